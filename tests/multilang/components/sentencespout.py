"""A reliable spout written against Storm's own storm.py: emits each sentence once
with its index as message id, and appends every acked id to the file named by the
config key ``test.acked.file``.

With the config key ``test.crash.marker``, the first child (the marker file does not
exist yet) creates it and exits on its third ``next``.
"""
import os
import time

import storm

SENTENCES = ["the cow jumped over the moon", "an apple a day keeps the doctor away",
             "four score and seven years ago", "snow white and the seven dwarfs"]


class SentenceSpout(storm.Spout):
    def initialize(self, conf, context):
        self.acked_file = conf["test.acked.file"]
        self.next = 0
        marker = conf.get("test.crash.marker")
        self.crash_marker = marker if marker and not os.path.exists(marker) else None

    def nextTuple(self):
        if self.crash_marker and self.next == 2:
            open(self.crash_marker, "w").close()
            os._exit(3)
        if self.next < len(SENTENCES):
            storm.emit([SENTENCES[self.next]], id=self.next)
            self.next += 1
        else:
            time.sleep(0.01)

    def ack(self, id):
        with open(self.acked_file, "a") as f:
            f.write("%s\n" % id)

    def fail(self, id):
        storm.emit([SENTENCES[id]], id=id)


SentenceSpout().run()
