"""A bolt that prints a stray line on stdout, which breaks the protocol."""
import storm


class GarbageBolt(storm.BasicBolt):
    def process(self, tup):
        print("debug: got a tuple")


GarbageBolt().run()
