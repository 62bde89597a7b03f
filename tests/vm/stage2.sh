#!/bin/sh
# Stage 2 of the test VM: run by busybox init (PID 1) on the guest's root, after init.sh.
#
# Runs the host's command.sh, relays its stdout to ttyS1 and its stderr to ttyS2 (QEMU writes
# them into FIFOs on the host), writes its exit status into the shared run directory, and
# powers off. Messages to the console say how far it got, for the host's error messages.
vm=/run/airlock-vm
"$vm/bin/busybox" --install -s "$vm/bin"
export PATH="$vm/bin"
read -r up _ < /proc/uptime
echo "airlock-vm: command starts at $up s"
# raw: no "\n" -> "\r\n" and no echo; the bytes arrive as the command wrote them.
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
# The command writes into pipes, as under subprocess.run on the host, not into the serial
# ports: a tty would change what it writes (ls's columns, colours, line buffering).
mkfifo "$vm/stdout" "$vm/stderr"
cat "$vm/stdout" > /dev/ttyS1 &
cat "$vm/stderr" > /dev/ttyS2 &
rc=0
sh "$vm/io/command.sh" < /dev/null > "$vm/stdout" 2> "$vm/stderr" || rc=$?
echo "$rc" > "$vm/io/exit"
read -r up _ < /proc/uptime
echo "airlock-vm: command exited with $rc at $up s"
# The relays end when every process holding the pipes has closed them: a background process
# the command left behind with its stdout or stderr open keeps the VM up until the timeout.
wait
# tcsetattr(TCSADRAIN): returns once the relayed bytes have left the UARTs, so that poweroff
# cannot cut the end of the output.
stty -F /dev/ttyS1 raw
stty -F /dev/ttyS2 raw
poweroff -f
