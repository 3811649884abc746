/** The CLI's --json events: parsed line by line, each validated against docs/events.schema.json. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { repoRoot } from './env.js';

const schema = JSON.parse(readFileSync(join(repoRoot, 'docs/events.schema.json'), 'utf8'));
const validate = new Ajv({ allErrors: true }).compile(schema);

// biome-ignore lint/suspicious/noExplicitAny: events are checked by the schema, read by tests
export type CliEvent = Record<string, any> & { event: string };

/** Every line of `text` as an event; throws when a line is not JSON or not a valid event. */
export function parseEvents(text: string): CliEvent[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const event = JSON.parse(line) as CliEvent;
      if (!validate(event)) {
        throw new Error(`invalid event ${line}: ${JSON.stringify(validate.errors)}`);
      }
      return event;
    });
}

/** The one event of this kind among `events` (throws if there is not exactly one). */
export function only(events: CliEvent[], kind: string): CliEvent {
  const found = events.filter((event) => event.event === kind);
  if (found.length !== 1)
    throw new Error(`expected one ${kind} event, got ${found.length}: ${JSON.stringify(events)}`);
  return found[0] as CliEvent;
}
