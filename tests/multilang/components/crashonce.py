"""A split bolt that fails once, after taking a few tuples without acking them.

The first child creates the marker file named by the config key ``test.crash.marker``
and, on its third tuple, exits (``test.crash.mode`` "exit") or hangs without reading
or writing anything more ("hang"); its replacement finds the marker and splits normally.
"""
import os
import time

import storm


class CrashOnceBolt(storm.Bolt):
    def initialize(self, conf, context):
        self.marker = conf["test.crash.marker"]
        self.mode = conf["test.crash.mode"]
        self.crash = not os.path.exists(self.marker)
        self.seen = 0

    def process(self, tup):
        self.seen += 1
        if self.crash and self.seen == 3:
            open(self.marker, "w").close()
            if self.mode == "hang":
                time.sleep(3600)
            os._exit(3)
        if self.crash:
            return      # held, neither acked nor failed: pending when the child dies
        for word in tup.values[0].split(" "):
            storm.emit([word], anchors=[tup])
        storm.ack(tup)


CrashOnceBolt().run()
