// A Node controller for the fleet tests: freezes a target on the given hosts with
// freezeFleet, prints one JSON line (the holds, or the error), then holds until told on
// stdin ("thaw": thaw and print the result; EOF: exit without thawing) or killed.
import { freezeFleet } from '../../dist/index.js';

const { hosts, ...options } = JSON.parse(process.argv[2]);
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
let fleet;
try {
  fleet = await freezeFleet(hosts, options);
  print({ ok: true, hosts: fleet.hosts, at: Date.now() });
} catch (error) {
  print({ ok: false, code: error.code, message: error.message, at: Date.now() });
  process.exit(0);
}
let input = '';
process.stdin.on('data', async (data) => {
  input += data;
  if (input.includes('thaw')) {
    const result = await fleet.thaw();
    print({ thawed: result, at: Date.now() });
    process.exit(0);
  }
});
