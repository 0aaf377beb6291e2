"""Two stacks in two namespaces on one graph (issue 15): every topic and service name is relative,
so /a/ftrl/... and /b/ftrl/... never mix; an e-stop in one stack leaves the other running."""

from __future__ import annotations

import time

import pytest

from ftrl_ros.tools.harness import Probe, Stack


def _stack(ns: str, run_dir, port: int) -> Stack:
    sets = {"operator_console.port": port, "state_estimator_node.detector_threads": 1, "state_estimator_node.debug_image_rate": 0.0}
    return Stack(run_dir, sets=sets, namespace=ns, mode="eval")


@pytest.mark.slow
def test_two_namespaced_stacks_do_not_cross_talk(tmp_path):
    from std_srvs.srv import SetBool

    from ftrl_ros.nodes import topics

    stacks = {ns: _stack(ns, tmp_path / ns, port).start() for ns, port in (("a", 18181), ("b", 18182))}
    probes = {ns: Probe("ns_probe", namespace=ns) for ns in ("a", "b", "")}
    log = {
        f"{ns}/{key}": probes[ns].listen(topic)
        for ns in ("a", "b")
        for key, topic in (("state", topics.STATE), ("decision", topics.DECISION))
    }
    estop_log = {ns: probes[ns].listen(topics.ESTOP_ENGAGED) for ns in ("a", "b")}
    log["root/decision"] = probes[""].listen(topics.DECISION)

    def estop(ns: str):
        return estop_log[ns][-1][1].data if estop_log[ns] else None

    def spin_until(done, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for p in probes.values():
                p.executor.spin_once(timeout_sec=0.007)
            if done():
                return True
        return False

    def moving(ns):
        return sum(dict(zip(m.name, m.position))["hold"] < 0.5 for _, m in log[f"{ns}/decision"])

    try:
        assert spin_until(lambda: moving("a") >= 5 and moving("b") >= 5, 180), (
            {k: len(v) for k, v in log.items()},
            [s.alive for s in stacks.values()],
        )
        assert probes["a"].name_of(topics.DECISION) == "/a/ftrl/decision"
        assert not log["root/decision"], "a namespaced stack published in the root namespace"
        stamp = lambda m: (m.header.stamp.sec, m.header.stamp.nanosec)  # noqa: E731
        for ns, other in (("a", "b"), ("b", "a")):  # each filter decides on its own camera's states only
            decided = {stamp(m) for _, m in log[f"{ns}/decision"]}
            assert not decided & {stamp(m) for _, m in log[f"{other}/state"]}
        # e-stop stack a through its own namespaced service: b keeps acting
        client = probes["a"].client(topics.ESTOP)
        assert client.wait_for_service(timeout_sec=20)
        future = client.call_async(SetBool.Request(data=True))
        assert spin_until(future.done, 10) and future.result().success
        assert spin_until(lambda: estop("a") is True, 5)
        n_b = moving("b")
        n_a = len(log["a/decision"])
        spin_until(lambda: False, 4.0)
        assert estop("b") is not True
        assert moving("b") > n_b, "stack b stopped acting when stack a's e-stop was pressed"
        after_a = log["a/decision"][n_a + 2 :]
        assert after_a and all(dict(zip(m.name, m.position))["hold"] > 0.5 for _, m in after_a)
        assert all(s.alive for s in stacks.values())
    finally:
        for p in probes.values():
            p.close()
        for s in stacks.values():
            s.stop()
