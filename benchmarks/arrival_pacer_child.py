"""Child of bench_arrival.py: the pacer alone, in one process, with no HTTP.

    python benchmarks/arrival_pacer_child.py RATE SECONDS USERS

Each iteration spins 50 µs and sleeps 2 ms, so the start lag measured is what the dispatcher and
the process's scheduling add, not what HTTP requests cost. Prints one JSON line.
"""

import json
import sys
import textwrap
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gevent
from locust import User, constant, task
from locust.env import Environment

from stresskit.arrival import arrival_control_of, use_arrival
from stresskit.report.sketch import decode_hist, encode
from stresskit.run.scenarios import parse_scenarios


class Spin(User):
    kind = "api"
    wait_time = constant(0)

    @task
    def spin(self) -> None:
        end = time.perf_counter() + 0.00005
        while time.perf_counter() < end:
            pass
        gevent.sleep(0.002)


def main() -> None:
    rate, seconds, users = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    scenario = parse_scenarios(tomllib.loads(textwrap.dedent(f"""
        [scenarios.x]
        pages = 0
        duration = "{seconds + 5}s"
        failure_rate = 0
        users = {{ api = 0 }}
        stages = [ {{ duration = "{seconds + 5}s", rate = {{ api = {rate} }}, max_users = {{ api = {users} }} }} ]
    """)), "bench").get("x")
    env = Environment(user_classes=[Spin])
    runner = env.create_local_runner()
    use_arrival(env.events)
    env.events.init.fire(environment=env, runner=runner, web_ui=None)
    control = arrival_control_of(env)
    control.start(scenario, None)
    runner.start(users, spawn_rate=100)
    gevent.sleep(seconds)
    control.collect_local()
    q = decode_hist(encode(control.lag["api"])).quantiles((0.5, 0.99, 1.0))
    print(json.dumps({"start_lag_ms": {"p50": q[0], "p99": q[1], "max": q[2]}, **control.counts()["api"]}))
    runner.quit()


if __name__ == "__main__":
    main()
