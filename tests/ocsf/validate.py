"""Validates qrie's OCSF export with py-ocsf-models, the library Prowler writes OCSF with.

Reads a JSON array, or one JSON object per line (`qrie findings --format ocsf [--ndjson]`),
from the file named as the first argument or from standard input, and checks every finding:

- it validates as py-ocsf-models' ComplianceFinding (OCSF 1.5.0, class 2003);
- nothing in it is silently dropped by the model: every key of the input is in the validated
  model's dump, except `cloud` (the cloud profile, which the library's class does not declare),
  which is validated on its own as a py-ocsf-models Cloud object;
- class, category, type_uid (class_uid * 100 + activity_id) and metadata.version agree.

Prints one line per invalid finding and `N valid, M invalid`; exits 1 when any is invalid or
when there is nothing to validate (an empty export validates nothing).
"""

import json
import sys

from py_ocsf_models import OCSF_VERSION
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
from py_ocsf_models.objects.cloud import Cloud

ALLOWED_EXTRA = {"cloud"}


def read_findings(text):
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def dropped(given, kept, path=""):
    """Paths of `given` that are not in `kept` (what the model ignored)."""
    out = []
    if isinstance(given, dict):
        if not isinstance(kept, dict):
            return [path or "."]
        for key, value in given.items():
            here = f"{path}.{key}" if path else key
            if key not in kept:
                out.append(here)
            else:
                out.extend(dropped(value, kept[key], here))
    elif isinstance(given, list) and isinstance(kept, list):
        for i, (g, k) in enumerate(zip(given, kept)):
            out.extend(dropped(g, k, f"{path}[{i}]"))
    return out


def problems_of(finding):
    problems = []
    try:
        model = ComplianceFinding.model_validate(finding)
    except Exception as e:  # pydantic.ValidationError, with every field that failed
        return [f"not a ComplianceFinding: {e}"]
    dump = model.model_dump(mode="json", exclude_unset=True)
    for path in dropped(finding, dump):
        if path.split(".")[0].split("[")[0] not in ALLOWED_EXTRA:
            problems.append(f"{path}: not an attribute of the OCSF class (dropped by the model)")
    if "cloud" in finding:
        try:
            cloud = Cloud.model_validate(finding["cloud"])
            for path in dropped(finding["cloud"], cloud.model_dump(mode="json", exclude_unset=True)):
                problems.append(f"cloud.{path}: not an attribute of Cloud")
        except Exception as e:
            problems.append(f"cloud: {e}")
    else:
        problems.append("cloud: missing (the cloud profile names provider, account and region)")
    if finding.get("class_uid") != 2003 or finding.get("category_uid") != 2:
        problems.append("class_uid/category_uid: not a Compliance Finding (2003, 2)")
    if finding.get("type_uid") != 2003 * 100 + finding.get("activity_id", -1):
        problems.append("type_uid: not class_uid * 100 + activity_id")
    if finding.get("metadata", {}).get("version") != OCSF_VERSION:
        problems.append(f"metadata.version: not {OCSF_VERSION}")
    return problems


def main():
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    try:
        findings = read_findings(text)
    except json.JSONDecodeError as e:
        print(f"not JSON: {e}")
        return 1
    invalid = 0
    for i, finding in enumerate(findings):
        problems = problems_of(finding)
        if problems:
            invalid += 1
            uid = finding.get("finding_info", {}).get("uid", "?") if isinstance(finding, dict) else "?"
            print(f"finding {i} ({uid}): " + "; ".join(problems))
    print(f"{len(findings) - invalid} valid, {invalid} invalid")
    if not findings:
        print("nothing to validate")
        return 1
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
