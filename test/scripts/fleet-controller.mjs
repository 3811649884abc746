// A Node controller for the fleet tests: freezes a target on the given hosts with
// freezeFleet, prints one JSON line (the holds, or the error), then holds until told on
// stdin ("thaw": thaw and print the result; EOF: exit without thawing) or killed.
// With "pauseBeforeFreeze": once every host is prepared it prints {"prepared":true} and
// waits for a line "go" before the order to freeze is sent (a test acts between the phases).
import { freezeFleet } from '../../dist/index.js';

const { hosts, pauseBeforeFreeze, ...options } = JSON.parse(process.argv[2]);
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
let input = '';
const waiters = [];
process.stdin.on('data', (data) => {
  input += data;
  for (const wake of waiters.splice(0)) wake();
});
const line = async (word) => {
  while (!input.split('\n').includes(word)) await new Promise((resolve) => waiters.push(resolve));
};
if (pauseBeforeFreeze) {
  options.beforeFreeze = async () => {
    print({ prepared: true, at: Date.now() });
    await line('go');
  };
}
let fleet;
try {
  fleet = await freezeFleet(hosts, options);
  print({ ok: true, hosts: fleet.hosts, at: Date.now() });
} catch (error) {
  print({ ok: false, code: error.code, message: error.message, at: Date.now() });
  process.exit(0);
}
await line('thaw');
print({ thawed: await fleet.thaw(), at: Date.now() });
process.exit(0);
