"""The split-sentence bolt written against pystorm (PyPI); argv[1] names the serializer.

pystorm's emit does not ask for task ids (need_task_ids false) and it acks after
process returns."""
import sys

import pystorm


class SplitBolt(pystorm.Bolt):
    def process(self, tup):
        for word in tup.values[0].split(" "):
            self.emit([word], anchors=[tup])


SplitBolt(serializer=sys.argv[1]).run()
