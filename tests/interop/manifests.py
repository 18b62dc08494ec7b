"""The Kubernetes manifests in deploy/kubernetes: each parses as YAML
(yaml.safe_load_all), and the wiring issue 23 fixed stays fixed:

- sidecar.yaml: every container that is not imgcache gets both
  OS_IMAGE_URL (python-glanceclient) and OS_IMAGE_ENDPOINT_OVERRIDE
  (openstacksdk, the openstack CLI), equal, on imgcache's listen address;
- edge.yaml: no required pod anti-affinity (the HPA scales past small
  clusters' node counts), and every egress rule of the NetworkPolicy names
  its destinations (`to`) and its ports: no "anywhere" rule.

    manifests.py DIR        prints PASS/FAIL lines; exits 1 if any failed
"""

import os
import sys

import yaml


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_specs(docs):
    for doc in docs:
        if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def sidecar_problems(docs):
    problems = []
    for name, spec in pod_specs(docs):
        proxies = [c for c in spec.get("initContainers", []) + spec.get("containers", []) if c["name"] == "imgcache"]
        if not proxies:
            continue
        listen = env_of(proxies[0]).get("IMGCACHE_SERVER_LISTEN")
        want = f"http://{listen}"
        for app in spec.get("containers", []):
            if app["name"] == "imgcache":
                continue
            env = env_of(app)
            for var in ("OS_IMAGE_URL", "OS_IMAGE_ENDPOINT_OVERRIDE"):
                if env.get(var) != want:
                    problems.append(f"{name}/{app['name']}: {var} is {env.get(var)!r}, want {want!r}")
    return problems


def edge_problems(docs):
    problems = []
    for name, spec in pod_specs(docs):
        anti = (spec.get("affinity") or {}).get("podAntiAffinity") or {}
        if anti.get("requiredDuringSchedulingIgnoredDuringExecution"):
            problems.append(f"{name}: required pod anti-affinity (replicas past the node count stay Pending)")
    for doc in docs:
        if doc.get("kind") != "NetworkPolicy" or "Egress" not in doc["spec"].get("policyTypes", []):
            continue
        for i, rule in enumerate(doc["spec"].get("egress", [])):
            where = f"NetworkPolicy {doc['metadata']['name']} egress[{i}]"
            if not rule.get("to"):
                problems.append(f"{where}: no `to` (any destination)")
            if not rule.get("ports"):
                problems.append(f"{where}: no `ports` (any port)")
            for peer in rule.get("to", []):
                cidr = (peer.get("ipBlock") or {}).get("cidr", "")
                if cidr.endswith("/0"):
                    problems.append(f"{where}: ipBlock {cidr} (anywhere)")
    return problems


def main():
    directory = sys.argv[1]
    failed = 0
    checks = [
        ("sidecar.yaml", sidecar_problems),
        ("edge.yaml", edge_problems),
    ]
    for name in sorted(os.listdir(directory)):
        if not name.endswith((".yaml", ".yml")):
            continue
        try:
            docs = load(os.path.join(directory, name))
        except yaml.YAMLError as e:
            print(f"FAIL [deploy] manifest-yaml {name}: {e}")
            failed += 1
            continue
        print(f"PASS [deploy] manifest-yaml {name}: {len(docs)} documents: "
              + ", ".join(d.get("kind", "?") for d in docs))
        for file, judge in checks:
            if file == name:
                problems = judge(docs)
                verdict = "FAIL" if problems else "PASS"
                failed += bool(problems)
                print(f"{verdict} [deploy] manifest-wiring {name}" + (": " + "; ".join(problems) if problems else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
