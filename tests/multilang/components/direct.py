"""Direct emits through storm.py: each word goes to the highest task of component
"direct_sink" (named in the handshake context), then a normal emit whose task ids reply
is emitted on stream "tasks" (a reply to the direct emit would shift it)."""
import storm


class DirectBolt(storm.Bolt):
    def initialize(self, conf, context):
        self.target = max(int(t) for t, c in context["task->component"].items() if c == "direct_sink")

    def process(self, tup):
        word = tup.values[0]
        storm.emitDirect(self.target, [word], stream="direct", anchors=[tup])
        tasks = storm.emit([word], anchors=[tup])
        storm.emit([word, ",".join(str(t) for t in tasks)], stream="tasks", anchors=[tup])
        storm.ack(tup)


DirectBolt().run()
