#!/usr/bin/env bash
# The deploy gate: the one documented way to run `pulumi preview` / `pulumi up` for a stack. It always
# hands Pulumi the policy pack in policy/ with the stack's own pack config, after the offline gate has
# passed, and refuses to run when any of that is missing or when an argument would swap the pack out.
#
#   scripts/deploy.sh <stack> [preview|up] [-- <more pulumi arguments>]
#
# What it runs (exactly, nothing else is added):
#   pulumi <preview|up> --stack <stack> --policy-pack policy --policy-pack-config policy/config.<stack>.json [args]
#
# Before that it checks, and stops with exit 2 (usage/setup) or 1 (gate) on failure:
#   - policy/PulumiPolicy.yaml, policy/index.ts and policy/config.<stack>.json exist;
#   - no argument names --policy-pack or --policy-pack-config (the pack is not negotiable);
#   - no image in Pulumi.<stack>.yaml is pinned to the all-zero placeholder digest, and no Azure object id
#     is the example file's placeholder (00000000-0000-4000-8000-0000000000xx);
#   - the offline gate passes: npx tsx scripts/policy.ts --stack <stack> [--base-ref $DEPLOY_BASE_REF].
# PULUMI names the pulumi binary (default: pulumi). Server-side enforcement with Pulumi Cloud policy
# groups is described in docs/policies.md; this script is what a laptop or a CD job runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PULUMI="${PULUMI:-pulumi}"

die() { echo "deploy: $2" >&2; exit "$1"; }

[ $# -ge 1 ] || die 2 "usage: scripts/deploy.sh <stack> [preview|up] [-- <more pulumi arguments>]"
stack="$1"; shift
[[ "$stack" =~ ^[A-Za-z0-9_.-]+$ ]] || die 2 "not a stack name: '$stack'"
action="up"
if [ $# -ge 1 ] && [ "$1" != "--" ]; then action="$1"; shift; fi
case "$action" in preview|up) ;; *) die 2 "action must be preview or up, not '$action'" ;; esac
if [ $# -ge 1 ]; then
    [ "$1" = "--" ] || die 2 "extra pulumi arguments go after --"
    shift
fi
for a in "$@"; do
    case "$a" in
        --policy-pack|--policy-pack=*|--policy-pack-config|--policy-pack-config=*)
            die 2 "refusing '$a': the deploy gate always uses policy/ with policy/config.$stack.json" ;;
    esac
done

cd "$ROOT"
[ -f "Pulumi.$stack.yaml" ] || die 2 "no stack file Pulumi.$stack.yaml"
for f in policy/PulumiPolicy.yaml policy/index.ts "policy/config.$stack.json"; do
    [ -f "$f" ] || die 2 "refusing to deploy without the policy pack: $f is missing (npm run policy -- --stack $stack --write-config writes the config)"
done
if grep -Eq '@sha256:0{64}' "Pulumi.$stack.yaml"; then
    die 2 "Pulumi.$stack.yaml pins an image to the placeholder digest sha256:000…; replace it with the digest of the image you built (docker buildx imagetools inspect <image>)"
fi
if grep -Eq '00000000-0000-4000-8000-0{10}[0-9a-f]{2}' "Pulumi.$stack.yaml"; then
    die 2 "Pulumi.$stack.yaml names a placeholder Azure object id (00000000-0000-4000-8000-…, azure.restoreOperators); replace it with the real one (az ad group show -g <group> --query id)"
fi
command -v "$PULUMI" >/dev/null 2>&1 || die 2 "the Pulumi CLI ('$PULUMI') is not installed: https://www.pulumi.com/docs/iac/download-install/"

gate=(npx --no-install tsx scripts/policy.ts --stack "$stack")
if [ -n "${DEPLOY_BASE_REF:-}" ]; then gate+=(--base-ref "$DEPLOY_BASE_REF"); fi
echo "deploy: offline policy gate: ${gate[*]}" >&2
"${gate[@]}" >&2 || die 1 "the offline policy gate failed for $stack; nothing was deployed"

cmd=("$PULUMI" "$action" --stack "$stack" --policy-pack policy --policy-pack-config "policy/config.$stack.json" "$@")
echo "deploy: ${cmd[*]}" >&2
exec "${cmd[@]}"
