"""Wrong team passwords counted on the server (core.hosting.sign_in_guard): by name and by address, with waits
that grow, shared by every session of the process, and bounded in memory."""

from __future__ import annotations

import threading

from core.hosting.sign_in_guard import FREE_TRIES, LONGEST_WAIT, SignInGuard, how_long, wait_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_waits_start_after_a_few_typos_and_double_up_to_a_limit():
    assert [wait_after(n) for n in range(FREE_TRIES + 4)] == [0, 0, 0, 15, 30, 60, 120]
    assert wait_after(100) == LONGEST_WAIT == 900
    assert (how_long(15), how_long(60), how_long(150.4), how_long(0.2)) == (
        "15 seconds", "1 minute", "2 minutes 30 seconds", "1 second")


def test_a_name_must_wait_whatever_address_it_comes_from_and_an_address_whatever_name_it_types():
    clock = Clock()
    guard = SignInGuard(clock=clock)
    assert [guard.failed("Ada", "203.0.113.7") for _ in range(3)] == [0, 0, 15]
    assert guard.wait_left("ada ", "198.51.100.2") == 15  # the same name from elsewhere, however it is typed
    assert guard.wait_left("Bob", "203.0.113.7") == 15  # another name from the same address
    assert guard.wait_left("Bob", "198.51.100.2") == 0
    clock.now += 10
    assert guard.wait_left("Ada", None) == 5
    clock.now += 5
    assert guard.wait_left("Ada", None) == 0
    assert guard.failed("Ada", None) == 30  # the count goes on: the next wait is longer


def test_the_right_password_clears_the_count_and_quiet_hours_forget_it():
    clock = Clock()
    guard = SignInGuard(clock=clock, forget_after=3600)
    for _ in range(3):
        guard.failed("Ada", "203.0.113.7")
    clock.now += 15
    guard.succeeded("Ada", "203.0.113.7")
    assert guard.failed("Ada", "203.0.113.7") == 0
    for _ in range(5):
        guard.failed("Bob", None)
    clock.now += 3601
    assert guard.wait_left("Bob", None) == 0 and guard.failed("Bob", None) == 0


def test_an_unknown_address_is_not_shared_by_everyone_without_one():
    guard = SignInGuard(clock=Clock())
    for _ in range(5):
        guard.failed("Mallory", None)
    assert guard.wait_left("Ada", None) == 0


def test_it_remembers_a_bounded_number_of_names_the_quietest_forgotten_first():
    guard = SignInGuard(max_entries=100, clock=Clock())
    for number in range(1_000):
        guard.failed(f"name {number}", None)
    assert len(guard._failures) == 100
    for _ in range(2):
        guard.failed("name 999", None)
    assert guard.wait_left("name 999", None) == 15 and guard.wait_left("name 0", None) == 0


def test_sessions_in_many_threads_share_one_count():
    guard = SignInGuard()
    threads = [threading.Thread(target=lambda: [guard.failed("Ada", None) for _ in range(50)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert guard._failures[("name", "ada")].count == 400
