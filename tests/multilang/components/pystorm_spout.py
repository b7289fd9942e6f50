"""A reliable spout written against pystorm (PyPI); argv[1] names the serializer.
Emits each sentence once with its index as tuple id and appends acked ids to the file
named by the config key ``test.acked.file``."""
import sys
import time

import pystorm

SENTENCES = ["the cow jumped over the moon", "an apple a day keeps the doctor away",
             "four score and seven years ago", "snow white and the seven dwarfs"]


class SentenceSpout(pystorm.Spout):
    def initialize(self, conf, context):
        self.acked_file = conf["test.acked.file"]
        self.next = 0

    def next_tuple(self):
        if self.next < len(SENTENCES):
            self.emit([SENTENCES[self.next]], tup_id=self.next)
            self.next += 1
        else:
            time.sleep(0.01)

    def ack(self, tup_id):
        with open(self.acked_file, "a") as f:
            f.write("%s\n" % tup_id)

    def fail(self, tup_id):
        self.emit([SENTENCES[tup_id]], tup_id=tup_id)


SentenceSpout(serializer=sys.argv[1]).run()
