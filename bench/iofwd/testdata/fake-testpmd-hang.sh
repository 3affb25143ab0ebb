#!/bin/sh
# A stand-in for dpdk-testpmd that shows its prompt and then never answers:
# the runner must give up and kill it by its PID. exec keeps the PID.
printf 'testpmd> '
exec sleep 3600
