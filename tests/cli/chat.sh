#!/bin/sh
# chat.sh — `whale chat` driven through a pseudo-terminal (tmux): a two-turn
# conversation (the second turn prefills only its new tokens), a Ctrl-C that stops an
# answer but not the program, /stats, /save, and a clean exit on Ctrl-D.
BUILD=${BUILD:-build}
if ! command -v tmux >/dev/null 2>&1; then
    echo "chat: SKIPPED — tmux not installed"; exit 0
fi
S=whale-chat-test-$$
TMP=$(mktemp -d)
trap 'tmux kill-session -t $S 2>/dev/null; rm -rf "$TMP"' EXIT
fail=0
screen() { tmux capture-pane -p -t $S -S -200; }
wait_for() { # pattern, seconds
    i=0
    while [ $i -lt $(($2 * 10)) ]; do
        screen | grep -q "$1" && return 0
        sleep 0.1; i=$((i + 1))
    done
    echo "chat: FAIL: timed out waiting for '$1'"; screen | tail -15; fail=1; return 1
}
tmux new-session -d -s $S -x 160 -y 50 "WHALE_CHAT_DELAY_MS=30 $BUILD/whale chat -m tests/fixtures/dsv3.gguf -n 40 --temp 0 -t 1; echo CHAT-EXITED; sleep 30"
wait_for "/help for commands" 10
tmux send-keys -t $S "hello there" Enter
wait_for "tok/s" 20 && echo "chat: ok: first answer streamed with its statistics"
tmux send-keys -t $S "and again" Enter
i=0; while [ $i -lt 200 ] && [ "$(screen | grep -c 'new of')" -lt 2 ]; do sleep 0.1; i=$((i + 1)); done
# the second turn re-renders the conversation but prefills only what is new
n=$(screen | grep -o 'prompt [0-9]* new of [0-9]*' | tail -1)
new=$(echo "$n" | awk '{print $2}'); total=$(echo "$n" | awk '{print $5}')
if [ -n "$new" ] && [ "$new" -lt "$total" ]; then echo "chat: ok: second turn prefilled $new of $total tokens"; else echo "chat: FAIL: no KV reuse ($n)"; fail=1; fi
# a long answer interrupted by Ctrl-C
tmux send-keys -t $S "/reset" Enter
tmux send-keys -t $S "tell me more" Enter
sleep 0.5
tmux send-keys -t $S C-c
wait_for "stopped by you" 20 && echo "chat: ok: Ctrl-C stopped the answer"
tmux send-keys -t $S C-c
sleep 0.3
tmux send-keys -t $S "/stats" Enter
wait_for "last answer:" 10 && echo "chat: ok: Ctrl-C left the program running (/stats answers)"
tmux send-keys -t $S "/save $TMP/conv.json" Enter
wait_for "saved" 10
if grep -q '"role":"user"\|"role": "user"' "$TMP/conv.json" 2>/dev/null; then echo "chat: ok: /save wrote the conversation"; else echo "chat: FAIL: /save"; fail=1; fi
tmux send-keys -t $S C-d
wait_for "CHAT-EXITED" 10 && echo "chat: ok: Ctrl-D leaves"
exit $fail
