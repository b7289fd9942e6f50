# storm-starter's exclamation bolt, written against Storm's own storm.rb.
require_relative 'storm'

class ExclamationBolt < Storm::Bolt
  def process(tup)
    emit [tup.values[0] + '!!!'], :anchor => tup
    ack tup
  end
end

ExclamationBolt.new.run
