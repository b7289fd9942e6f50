"""Exercises the bolt protocol beyond emit/ack, through Storm's own storm.py.

Per tuple: an emit with need_task_ids false (no reply may come), then an emit on the
"upper" stream whose task ids reply is emitted on the "tasks" stream; a log line, an
error report and a metrics call.
"""
import storm


class ProbeBolt(storm.Bolt):
    def process(self, tup):
        word = tup.values[0]
        storm.sendMsgToParent({"command": "emit", "anchors": [tup.id], "tuple": [word],
                               "need_task_ids": False})
        tasks = storm.emit([word.upper()], stream="upper", anchors=[tup])
        storm.emit([word, ",".join(str(t) for t in tasks)], stream="tasks", anchors=[tup])
        storm.logWarn("probe saw " + word)
        storm.reportError("probe error for " + word)
        storm.rpcMetrics("words", {"word": word})
        storm.ack(tup)


ProbeBolt().run()
