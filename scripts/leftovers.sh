#!/usr/bin/env bash
# Prints what tests could leave behind on the host, one line per object, so
# that scripts/test.sh can compare before and after the suite.
set -u
findmnt -rn -t nsfs -o TARGET 2>/dev/null | sed 's/^/nsfs /' | sort
ip -o link show 2>/dev/null | awk -F': ' '{print "link " $2}' | sed 's/@.*//' | sort
ls /var/lib/cni/results 2>/dev/null | sed 's/^/cni-cache /' | sort
find /var/lib/cni/networks -type f ! -name 'last_reserved_ip*' ! -name lock 2>/dev/null | sed 's/^/host-local /' | sort
# portmap's shared top-level chains (CNI-HOSTPORT-*) are created once and kept by
# the plugin by design; every per-sandbox chain must go.
iptables -t nat -S 2>/dev/null | grep -E '^-N' | grep -vE 'CNI-HOSTPORT-(DNAT|SETMARK|MASQ)$' | sed 's/^/iptables-nat /' | sort
iptables -t filter -S 2>/dev/null | grep -E '^-N' | sed 's/^/iptables-filter /' | sort
ls /run/netns 2>/dev/null | sed 's/^/netns /' | sort
# Anti-spoofing (nftables, bridge family): every per-sandbox chain (sb-*) in any
# bridge table must go, and so must the tables tests make (snd*). The daemon's
# own table "sandnet" with its base chain and ports map is kept by design.
nft list tables bridge 2>/dev/null | awk '$3 ~ /^snd/ {print "nft-table bridge " $3}' | sort
nft list chains bridge 2>/dev/null | awk '$1 == "table" {t = $3} $1 == "chain" && $2 ~ /^sb-/ {print "nft-chain bridge " t " " $2}' | sort
