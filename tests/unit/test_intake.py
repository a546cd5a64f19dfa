"""intake.Intake: how much socket input one loop pass reads (by count and by time), without sockets."""

from __future__ import annotations

from livecart.intake import Intake


def test_a_pass_reads_until_its_message_budget_is_spent_then_the_rest_waits():
    intake = Intake(max_messages=3, max_s=1.0)
    assert intake.admits(0.0)
    assert intake.took(2, 0.0) is True  # the pass's first chunk: the caller schedules next_pass
    assert intake.admits(0.0)
    assert intake.took(1, 0.0) is False
    assert not intake.admits(0.0)


def test_a_pass_reads_until_its_time_budget_is_spent():
    intake = Intake(max_messages=1000, max_s=0.003)
    intake.took(1, 10.0)
    assert intake.admits(10.002)
    assert not intake.admits(10.003)


def test_the_first_chunk_of_a_pass_is_always_read_however_large():
    intake = Intake(max_messages=2, max_s=0.001)
    assert intake.admits(5.0)
    intake.took(500, 5.0)  # one read that held a whole client's burst
    assert not intake.admits(5.0)
    intake.next_pass()
    assert intake.admits(99.0)


def test_a_new_pass_has_a_new_budget_and_starts_on_its_first_chunk():
    intake = Intake(max_messages=1, max_s=1.0)
    intake.took(1, 0.0)
    assert not intake.admits(0.5)
    intake.next_pass()
    assert intake.admits(0.5)
    assert intake.took(1, 7.0) is True
    assert not intake.admits(7.0)


def test_a_chunk_with_no_whole_message_still_starts_the_pass_clock():
    intake = Intake(max_messages=10, max_s=0.002)
    assert intake.took(0, 1.0) is True  # half a frame
    assert intake.admits(1.001)
    assert not intake.admits(1.002)
