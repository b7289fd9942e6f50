"""Tags each word with the process that started this component (its parent's pid),
written against Storm's own storm.py."""
import os

import storm


class WhereAmIBolt(storm.BasicBolt):
    def process(self, tup):
        storm.emit([tup.values[0], os.getppid()])


WhereAmIBolt().run()
