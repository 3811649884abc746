#!/usr/bin/env bash
# The system packages the test suite needs beyond Node and a C compiler: an SSH server and
# client, Ansible and sudo, for the fleet tests (test hosts in network namespaces, each with its
# own sshd on a private address; sudo for the playbook's become test); podman with runc and a static busybox, for the container
# tests (an image is made from busybox: no registry is needed); PostgreSQL (with pgbench and
# pg_amcheck) and Redis (with redis-benchmark), for the tests of the recipes in docs/recipes;
# fish, for the completion tests. Idempotent; as root on Debian or Ubuntu. No package's own
# service is ever started (sshd, postgresql, redis): the tests start their own, privately.
set -euo pipefail
missing=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v ansible-playbook >/dev/null 2>&1 || missing+=(ansible-core)
command -v sudo >/dev/null 2>&1 || missing+=(sudo)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
containers=()
command -v podman >/dev/null 2>&1 || containers+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || containers+=(runc)
[ -x /bin/busybox ] || containers+=(busybox-static)
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || missing+=(postgresql)
compgen -G '/usr/lib/postgresql/*/bin/pg_amcheck' >/dev/null || missing+=(postgresql-client)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
command -v fish >/dev/null 2>&1 || missing+=(fish)
if [ ${#missing[@]} -eq 0 ] && [ ${#containers[@]} -eq 0 ]; then
  echo "setup-system: nothing to install"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: needs root and apt-get to install: ${missing[*]} ${containers[*]} (the fleet, container, recipe and completion tests skip without them, except under CI=true)" >&2
  exit 0
fi
# No service may start during the install (policy-rc.d 101: "action forbidden").
policy=/usr/sbin/policy-rc.d
had_policy=0
[ -e "$policy" ] && had_policy=1
if [ "$had_policy" -eq 0 ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
[ ${#missing[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# podman with what it recommends (conmon, the network plugins, the containers' common files).
[ ${#containers[@]} -eq 0 ] || apt-get install -y -qq "${containers[@]}" >/dev/null
echo "setup-system: installed ${missing[*]} ${containers[*]}"
