"""The lanes demo on the local cluster of examples/shop: alice and bob, each on their own machine (their own
lanesd), steal the requests of the shared `api` that carry their header, side by side; everything else still
reaches the deployed api. Then an unfiltered steal of the whole port, and outgoing traffic: alice's local api
calls the cluster-only ledger through the cluster, then, by her outgoing filter, a ledger on her laptop.
Then queue splitting: alice and bob each run the orders worker locally and get only the RabbitMQ messages
that carry their x-lane; the deployed workers get the rest, and the counts add up. Last, the guardrails: an
admin's policy refuses an unfiltered steal by name, bob may not kill alice's session, the admin may, alice's
command ends and says why, and the audit log shows all of it."""
import json
import os
import subprocess
import sys
import time

from lanesrun import BIN, LOCAL_LEDGER, ROOT, Cluster

BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = DIM = RESET = ""


def say(text):
    print(f"\n{BOLD}== {text}{RESET}", flush=True)


def show(cluster, *requests):
    for url, header in requests:
        shown = f"-H '{header}' {url}" if header else url
        answer = cluster.curl(url, headers=[header] if header else []).strip() or "(no answer)"
        print(f"  client-0$ curl {shown:46} -> {answer}", flush=True)


def filtered_api(name, port):
    return ["exec", "-t", "deploy/api", "--steal", f"8080:{port}", "--header-filter", f"^x-lane: {name}$", "--",
            "python3", "api.py"], {"PORT": str(port), "HOST": "127.0.0.1", "API_FLAVOUR": f"local ({name}'s laptop)"}


def consumed(cluster, records, prefix):
    """message id -> who consumed it, from the local workers' records and the deployed workers' logs."""
    who = {}
    sources = [(name, path) for name, path in records.items()]
    sources += [("deployed", path) for path in sorted((cluster.state / "logs").glob("pod-orders-worker-*.log"))]
    for name, path in sources:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if f'"message_id": "{prefix}-' in line:
                who.setdefault(json.loads(line[line.index("{"):])["message_id"], []).append(name)
    return who


def split_queues(cluster, alice_machine, alice, bob_machine, bob):
    say("Queue splitting: the admin lets developers split the orders queue of deploy/orders-worker")
    print("  admin$ lanes-operator split add examples/shop/splits/orders.json")
    subprocess.run([BIN / "lanes-operator", "split", "add", ROOT / "examples/shop/splits/orders.json", "--state",
                    cluster.state], check=True)
    broker = ["ip", "netns", "exec", "lanes-client-0", "/usr/bin/python3", ROOT / "tests/integration/amqp_tool.py"]
    subprocess.run(broker + ["wait"], check=True, stdout=subprocess.DEVNULL)
    records = {name: cluster.tmp / f"{name}-orders.json" for name in ("alice", "bob")}
    sessions = []
    for name, machine, credentials in (("alice", alice_machine, alice), ("bob", bob_machine, bob)):
        print(f"  {name}$ lanes exec -t deploy/orders-worker --split 'orders:x-lane=^{name}$' -- python3 orders_worker.py")
        sessions.append(cluster.lanes(machine, credentials,
                                      ["exec", "-t", "deploy/orders-worker", "--split", f"orders:x-lane=^{name}$", "--",
                                       "/usr/bin/python3", "orders_worker.py"],
                                      {"ORDERS_RECORD": str(records[name]), "WORKER_NAME": f"{name}'s laptop"},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    cluster.wait_for(lambda: all(r.exists() and "consuming" in r.read_text() for r in records.values()), 30,
                     "both local workers")
    say("The producer sends 30 orders: 10 for alice, 10 for bob, 10 untagged")
    published = subprocess.run(["ip", "netns", "exec", "lanes-client-0", "/usr/bin/python3",
                                ROOT / "examples/shop/orders_producer.py", "--count", "30", "--prefix", "demo"],
                               capture_output=True, text=True, check=True)
    sent = json.loads(published.stdout.strip().splitlines()[-1])
    ids = [i for lane in sent.values() for i in lane]
    cluster.wait_for(lambda: len(consumed(cluster, records, "demo")) == len(ids), 30, "every order to be consumed")
    who = consumed(cluster, records, "demo")
    for lane, label in (("alice", "x-lane: alice"), ("bob", "x-lane: bob"), ("", "untagged")):
        takers = sorted({name for i in sent[lane] for name in who[i]})
        print(f"  {len(sent[lane])} orders {label:14} -> consumed by {', '.join(takers)}")
    duplicates = sum(len(w) - 1 for w in who.values())
    print(f"  published {len(ids)}, consumed {len(who)}, lost {len(ids) - len(who)}, duplicates {duplicates}")
    print(cluster.lanes_output(alice_machine, alice, ["operator", "status"]), end="")
    for session in sessions:
        cluster.stop(session)


def guardrails(cluster, alice_machine, alice, bob_machine, bob, root):
    say("Policies: the admin requires an x-lane header filter on deploy/api")
    policy = ROOT / "examples/shop/policies/filters-required.json"
    print(f"  admin$ cat {policy.relative_to(ROOT)}\n  " + " ".join(policy.read_text().split()))
    print(f"  admin$ lanes-operator policy add {policy.relative_to(ROOT)}")
    subprocess.run([BIN / "lanes-operator", "policy", "add", policy, "--state", cluster.state], check=True,
                   stdout=subprocess.DEVNULL)
    print("  alice$ lanes exec -t deploy/api --steal 8080:9081 -- python3 api.py")
    refused = cluster.lanes(alice_machine, alice, ["exec", "-t", "deploy/api", "--steal", "8080:9081", "--", "true"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in refused.communicate(timeout=30)[0].splitlines():
        if "FORBIDDEN" in line:
            print(f"  {line}")
    print("  alice$ lanes policy check -t deploy/api --steal 8080 --header-filter '^x-lane: alice$'")
    for line in cluster.lanes_output(alice_machine, alice, ["policy", "check", "-t", "deploy/api", "--steal", "8080",
                                                            "--header-filter", "^x-lane: alice$"]).splitlines():
        print(f"  {line}")
    print("  alice$ lanes exec -t deploy/api --steal 8080:9081 --header-filter '^x-lane: alice$' -- python3 api.py")
    args, env = filtered_api("alice", 9081)
    session = cluster.lanes(alice_machine, alice, args, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    cluster.wait_for(lambda: "alice" in cluster.curl("http://api:8080/", headers=["x-lane: alice"]), 15, "alice")
    show(cluster, ("http://api-0:8080/cart", "x-lane: alice"))
    status = json.loads(cluster.lanes_output(bob_machine, bob, ["operator", "status", "--json"]))
    session_id = next(s["id"] for s in status["sessions"] if s["user"] == "alice")

    say("Sessions: anyone sees who does what; bob may not kill alice's session, the admin may")
    print(cluster.lanes_output(bob_machine, bob, ["operator", "status"]), end="")
    print(f"  bob$ lanes operator session kill {session_id}")
    r = subprocess.run(cluster.on_machine([BIN / "lanes", "operator", "session", "kill", session_id]),
                       env=dict(os.environ, LANES_SOCKET=str(bob_machine), LANES_CREDENTIALS=str(bob)),
                       capture_output=True, text=True)
    print(f"  {r.stderr.strip()}")
    print(f"  admin$ lanes operator session kill {session_id} --reason 'staging freeze for the release'")
    print("  " + cluster.lanes_output(bob_machine, root, ["operator", "session", "kill", session_id, "--reason",
                                                          "staging freeze for the release"]).strip())
    said = session.communicate(timeout=30)[0]
    print(f"  alice's lanes exec ended (exit code {session.returncode}) and said:")
    for line in said.splitlines():
        if session_id in line or "ending" in line:
            print(f"    {line}")
    show(cluster, ("http://api-0:8080/cart", "x-lane: alice"))

    say("The audit log (admins only): every refusal, start, kill and end")
    print("  admin$ lanes operator audit --since 5m")
    for line in cluster.lanes_output(bob_machine, root, ["operator", "audit", "--since", "5m"]).splitlines():
        if any(word in line for word in ("refused", "policy.add", "session.kill", f"session={session_id}")):
            print(f"  {line[:160]}")


def main():
    with Cluster() as cluster:
        say(f"The local cluster is up; the operator serves {cluster.url}")
        alice = cluster.add_user("alice")
        bob = cluster.add_user("bob")
        alice_machine = cluster.lanesd("alice")
        bob_machine = cluster.lanesd("bob")
        print(cluster.lanes_output(alice_machine, alice, ["ls"]), end="")

        say("Before any session, the deployed api answers everyone")
        show(cluster, ("http://api:8080/orders", None), ("http://api:8080/orders", "x-lane: alice"))

        say("Side by side on one service: alice and bob each steal api:8080 with their own header filter")
        print("  alice$ lanes exec -t deploy/api --steal 8080:9081 --header-filter '^x-lane: alice$' -- python3 api.py")
        print("  bob$   lanes exec -t deploy/api --steal 8080:9082 --header-filter '^x-lane: bob$' -- python3 api.py")
        args, env = filtered_api("alice", 9081)
        alice_session = cluster.lanes(alice_machine, alice, args, env)
        args, env = filtered_api("bob", 9082)
        bob_session = cluster.lanes(bob_machine, bob, args, env)
        cluster.wait_for(lambda: "alice" in cluster.curl("http://api:8080/", headers=["x-lane: alice"])
                         and "bob" in cluster.curl("http://api:8080/", headers=["x-lane: bob"]), 15, "both sessions")
        say("Who got what (requests from the client pod, to both replicas)")
        show(cluster, ("http://api-0:8080/cart", "x-lane: alice"), ("http://api-1:8080/cart", "x-lane: alice"),
             ("http://api-0:8080/cart", "x-lane: bob"), ("http://api-1:8080/cart", "x-lane: bob"),
             ("http://api-0:8080/cart", None), ("http://api-1:8080/cart", "x-lane: carol"))
        print(cluster.lanes_output(bob_machine, bob, ["operator", "status"]), end="")

        say("bob tries to steal the whole port while filtered sessions share it")
        refused = cluster.lanes(bob_machine, bob, ["exec", "-t", "deploy/api", "--steal", "8080:9083", "--", "true"])
        refused.wait(20)

        say("alice's command ends, so her session ends: her requests reach the deployed api again, bob's still reach him")
        cluster.stop(alice_session)
        cluster.wait_for(lambda: "deployed" in cluster.curl("http://api-0:8080/", headers=["x-lane: alice"]), 5, "alice's end")
        show(cluster, ("http://api-0:8080/cart", "x-lane: alice"), ("http://api-0:8080/cart", "x-lane: bob"))
        cluster.stop(bob_session)

        say("An unfiltered steal: every request to api, on both replicas, reaches alice")
        args = ["exec", "-t", "deploy/api", "--steal", "8080:9081", "--", "python3", "api.py"]
        env = {"PORT": "9081", "HOST": "127.0.0.1", "API_FLAVOUR": "local (alice's laptop)"}
        session = cluster.lanes(alice_machine, alice, args, env)
        cluster.wait_for(lambda: "alice" in cluster.curl("http://api-1:8080/"), 15, "alice's steal")
        show(cluster, ("http://api-0:8080/orders", None), ("http://api-1:8080/orders", "x-lane: bob"))
        cluster.stop(session)

        say("Outgoing: alice's local api calls ledger:8080, which exists only in the cluster")
        print("  alice$ lanes exec -t deploy/api --steal 8080:9081 --header-filter '^x-lane: alice$' -- python3 api.py")
        args, env = filtered_api("alice", 9081)
        session = cluster.lanes(alice_machine, alice, args, env)
        cluster.wait_for(lambda: "alice" in cluster.curl("http://api:8080/", headers=["x-lane: alice"]), 15, "alice")
        show(cluster, ("http://api-0:8080/balance", "x-lane: alice"), ("http://api-0:8080/balance", None))
        cluster.stop(session)

        say("With filter.local [\"tcp://ledger:8080\"], the same call reaches the ledger on alice's laptop instead")
        config = cluster.tmp / "alice-lanes.json"
        config.write_text('{"feature": {"network": {"outgoing": {"filter": {"local": ["tcp://ledger:8080"]}}}}}\n')
        print(f"  alice$ cat lanes.json\n  {config.read_text().strip()}")
        print(f"  alice$ LEDGER_HOST={LOCAL_LEDGER} LEDGER_FLAVOUR=\"on alice's laptop\" python3 ledger.py &")
        cluster.local_process(["python3", "ledger.py"], {"LEDGER_HOST": LOCAL_LEDGER, "UDP_PORT": "0", "BULK_PORT": "0",
                                                        "LEDGER_FLAVOUR": "on alice's laptop"})
        print("  alice$ lanes exec -f lanes.json -t deploy/api --steal 8080:9081 --header-filter '^x-lane: alice$' -- python3 api.py")
        args, env = filtered_api("alice", 9081)
        session = cluster.lanes(alice_machine, alice, ["exec", "-f", str(config), *args[1:]], env)
        cluster.wait_for(lambda: "laptop" in cluster.curl("http://api:8080/balance", headers=["x-lane: alice"]), 15,
                         "alice's local ledger")
        show(cluster, ("http://api-0:8080/balance", "x-lane: alice"), ("http://api-1:8080/balance", None))
        cluster.stop(session)

        split_queues(cluster, alice_machine, alice, bob_machine, bob)
        guardrails(cluster, alice_machine, alice, bob_machine, bob, cluster.add_user("root", "admin"))

        say("Cleaning up: sessions, lanesd, operator, namespaces and chains")
    print("done: the local cluster is gone")


if __name__ == "__main__":
    main()
