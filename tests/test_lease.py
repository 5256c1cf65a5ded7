"""The lease: another controller is refused until the holder's lease lapses, in the clock's time."""

from __future__ import annotations

import pytest

from rigbench.agent.lease import Lease
from rigbench.errors import DeviceBusyError
from tests.builders.clock import ManualClock


def test_another_holder_is_refused_until_the_lease_lapses():
    clock = ManualClock()
    lease = Lease(clock=clock)
    lease.claim("controller A", 2.0)
    lease.renew("controller A", 2.0)  # its job ended: two seconds from now
    clock.advance(1.9)
    with pytest.raises(DeviceBusyError, match=r"leased by controller A for another 0 s"):
        lease.claim("controller B", 2.0)
    clock.advance(0.2)
    lease.claim("controller B", 2.0)
    assert lease.holder == "controller B"


def test_the_holder_itself_is_never_refused_and_each_job_renews_its_lease():
    clock = ManualClock()
    lease = Lease(clock=clock)
    lease.claim("A", 2.0)
    clock.advance(1.5)
    lease.claim("A", 2.0)
    lease.renew("A", 2.0)
    clock.advance(1.5)  # 3 s after the first job: still held, renewed at the second
    with pytest.raises(DeviceBusyError):
        lease.claim("B", 2.0)


def test_a_lease_is_capped_at_the_agents_maximum():
    clock = ManualClock()
    lease = Lease(max_s=10.0, clock=clock)
    lease.claim("A", 3600.0)
    clock.advance(10.1)
    lease.claim("B", 1.0)


def test_a_released_lease_frees_the_device_at_once_and_only_its_holder_may_release_it():
    lease = Lease(clock=ManualClock())
    lease.claim("A", 600.0)
    assert lease.release("B") is False and lease.release("") is False
    assert lease.release("A") is True
    lease.claim("B", 600.0)


def test_a_job_without_a_holder_leaves_the_device_free_for_anyone():
    lease = Lease(clock=ManualClock())
    lease.claim("", 600.0)
    lease.claim("B", 600.0)
    assert lease.holder == "B"
