"""Reports what the handshake gave it (context, one config value) as a log message,
then runs as a plain storm.py bolt: answers heartbeats, acks every tuple."""
import json

import storm


class HandshakeBolt(storm.Bolt):
    def initialize(self, conf, context):
        storm.log(json.dumps({"context": context, "test.key": conf.get("test.key")}))

    def process(self, tup):
        storm.ack(tup)


HandshakeBolt().run()
