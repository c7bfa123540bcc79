"""The lanes demo on the local cluster of examples/shop: alice steals api:8080 on both replicas, then alice and
bob work side by side, each on their own machine (their own lanesd) and their own pod of `api`."""
import sys
import time

from lanesrun import Cluster

BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = DIM = RESET = ""


def say(text):
    print(f"\n{BOLD}== {text}{RESET}", flush=True)


def show(cluster, *urls):
    for url in urls:
        print(f"  client-0$ curl {url:28} -> {cluster.curl(url).strip() or '(no answer)'}", flush=True)


def local_api(name, port):
    return ["exec", "-t", "deploy/api", "--steal", f"8080:{port}", "--", "python3", "api.py"], \
        {"PORT": str(port), "HOST": "127.0.0.1", "API_FLAVOUR": f"local ({name}'s laptop)"}


def main():
    with Cluster() as cluster:
        say(f"The local cluster is up; the operator serves {cluster.url}")
        alice = cluster.add_user("alice")
        bob = cluster.add_user("bob")
        alice_machine = cluster.lanesd("alice")
        bob_machine = cluster.lanesd("bob")
        print(cluster.lanes_output(alice_machine, alice, ["ls"]), end="")

        say("Before any session, the deployed api answers on both replicas")
        show(cluster, "http://api-0:8080/orders", "http://api-1:8080/orders")

        say("alice: lanes exec -t deploy/api --steal 8080:9081 -- python3 api.py")
        args, env = local_api("alice", 9081)
        session = cluster.lanes(alice_machine, alice, args, env)
        cluster.wait_for(lambda: "local" in cluster.curl("http://api-0:8080/"), 15, "alice's steal")
        show(cluster, "http://api-0:8080/orders", "http://api-1:8080/orders", "http://api:8080/orders")
        print(cluster.lanes_output(alice_machine, alice, ["operator", "status"]), end="")

        say("bob tries the same port while alice holds it")
        args, env = local_api("bob", 9082)
        refused = cluster.lanes(bob_machine, bob, args, env)
        refused.wait(20)

        say("alice's command ends, so her session ends: the deployed api answers again")
        cluster.stop(session)
        cluster.wait_for(lambda: "deployed" in cluster.curl("http://api-0:8080/"), 5, "the deployed api")
        show(cluster, "http://api-0:8080/orders", "http://api-1:8080/orders")

        say("Side by side: alice steals pod/api-0, bob steals pod/api-1, each into their own local api")
        args, env = local_api("alice", 9081)
        args[2] = "pod/api-0"
        cluster.lanes(alice_machine, alice, args, env)
        args, env = local_api("bob", 9082)
        args[2] = "pod/api-1"
        cluster.lanes(bob_machine, bob, args, env)
        cluster.wait_for(lambda: "alice" in cluster.curl("http://api-0:8080/")
                         and "bob" in cluster.curl("http://api-1:8080/"), 15, "both sessions")
        show(cluster, "http://api-0:8080/cart", "http://api-1:8080/cart")
        print(cluster.lanes_output(bob_machine, bob, ["operator", "status"]), end="")

        say("Cleaning up: sessions, lanesd, operator, namespaces and chains")
    print("done: the local cluster is gone")


if __name__ == "__main__":
    main()
