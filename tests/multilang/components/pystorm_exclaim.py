"""storm-starter's exclamation bolt written against pystorm (PyPI): one tuple out per
tuple in; argv[1] names the serializer."""
import sys

import pystorm


class ExclamationBolt(pystorm.Bolt):
    def process(self, tup):
        self.emit([tup.values[0] + "!!!"], anchors=[tup])


ExclamationBolt(serializer=sys.argv[1]).run()
