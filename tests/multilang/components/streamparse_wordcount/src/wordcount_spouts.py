"""A reliable streamparse spout: each sentence of SENTENCES, ``wordcount.repeat`` times
(topology config), once, with its index as tuple id; a failed one is emitted again."""
import time

from streamparse import Spout

SENTENCES = ["the cow jumped over the moon", "an apple a day keeps the doctor away",
             "four score and seven years ago", "snow white and the seven dwarfs"]


class SentenceSpout(Spout):
    outputs = ["sentence"]

    def initialize(self, conf, context):
        self.todo = SENTENCES * int(conf["wordcount.repeat"])
        self.next = 0

    def next_tuple(self):
        if self.next < len(self.todo):
            self.emit([self.todo[self.next]], tup_id=self.next)
            self.next += 1
        else:
            time.sleep(0.01)

    def fail(self, tup_id):
        self.emit([self.todo[tup_id]], tup_id=tup_id)
