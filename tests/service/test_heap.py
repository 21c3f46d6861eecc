"""helpdesk_service.heap: the long-lived heap is frozen out of full collections, and what a
later settle() finds replaced is freed rather than kept for good."""

import gc
import weakref

from helpdesk_service import heap


class Node:
    other: "Node"


def test_settle_freezes_what_is_alive_and_frees_it_once_replaced(monkeypatch):
    monkeypatch.setenv(heap.ENV, "1")
    kept = Node()
    kept.other = kept  # a cycle: only the collector can free it
    ref = weakref.ref(kept)
    try:
        heap.settle()
        assert gc.get_freeze_count() > 0
        del kept
        gc.collect()
        assert ref() is not None, "a full collection walked the frozen heap"
        heap.settle()  # e.g. after a new rule set replaced the old one
        assert ref() is None, "what was frozen and then dropped was never freed"
    finally:
        gc.unfreeze()


def test_settle_does_nothing_unless_a_service_command_enabled_it(monkeypatch):
    monkeypatch.setenv(heap.ENV, "")  # so that teardown removes what enable() sets
    monkeypatch.delenv(heap.ENV)
    gc.unfreeze()
    heap.settle()
    assert gc.get_freeze_count() == 0
    heap.enable()
    heap.settle()
    try:
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
