"""Rule unit tests (`falco test`): a YAML test format next to the rules, a
synthesizer that turns a compact case (process context + syscalls by
parameter name) into state tables and libscap records, and a runner that
compares the alerts with the expectations.

The library never prints or exits: the CLI does that.
"""
from .format import (EventSpec, Expectation, FormatError, TestCase, TestFile, collect,
                     load_test_file, load_test_text, looks_like_test_file)
from .runner import ERROR, FAIL, PASS, SKIP, CaseResult, RuleTestRunner, compare
from .synth import SynthError, Synthesized, encode_param, synthesize

__all__ = ["EventSpec", "Expectation", "FormatError", "TestCase", "TestFile", "collect",
           "load_test_file", "load_test_text", "looks_like_test_file",
           "ERROR", "FAIL", "PASS", "SKIP", "CaseResult", "RuleTestRunner", "compare",
           "SynthError", "Synthesized", "encode_param", "synthesize"]
