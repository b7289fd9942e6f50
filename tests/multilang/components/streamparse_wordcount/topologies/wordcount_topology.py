"""A streamparse project's topology definition, as ``sparse quickstart`` lays it out:
sentences -> split (shuffle, 2 tasks) -> count (fields grouping on word, 3 tasks)."""
from streamparse import Grouping, Topology

from wordcount_bolts import CountBolt, SplitBolt
from wordcount_spouts import SentenceSpout


class WordCount(Topology):
    config = {"wordcount.repeat": 5}
    sentences = SentenceSpout.spec()
    split = SplitBolt.spec(inputs=[sentences], par=2)
    count = CountBolt.spec(inputs={split: Grouping.fields("word")}, par=3)
