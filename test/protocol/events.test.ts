/**
 * The --json protocol is typed once (src/protocol/events.ts) and described for other
 * languages by docs/events.schema.json: the two must say the same thing, field by field.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { parseEventLine } from '../../src/protocol/events.js';
import { repoRoot } from '../helpers/index.js';

interface SchemaObject {
  required?: string[];
  properties?: Record<string, { const?: unknown; enum?: unknown[] }>;
  oneOf?: { $ref: string }[];
  definitions?: Record<string, SchemaObject>;
}

const schema = JSON.parse(readFileSync(join(repoRoot, 'docs/events.schema.json'), 'utf8')) as SchemaObject & {
  definitions: Record<string, SchemaObject>;
};

/** Each type of the protocol, and the schema definition that describes it. */
const TYPES: Record<string, string> = {
  FrozenLine: 'frozen',
  BreachLine: 'breach',
  WatchdogLine: 'watchdog',
  ThawedLine: 'thawed',
  ErrorLine: 'error',
  DryRunLine: 'dry-run',
  PreparedLine: 'prepared',
  DismissedLine: 'dismissed',
  TargetSummary: 'target',
  EventProcess: 'process',
  HoldBreach: 'holdBreach',
  WatchdogEvent: 'watchdogEvent',
};

const file = join(repoRoot, 'src/protocol/events.ts');
const program = ts.createProgram([file], { strict: true, exactOptionalPropertyTypes: true });
const checker = program.getTypeChecker();
const module = checker.getSymbolAtLocation(program.getSourceFile(file) as ts.SourceFile) as ts.Symbol;
const exported = new Map(checker.getExportsOfModule(module).map((symbol) => [symbol.name, symbol]));

function typeNamed(name: string): ts.Type {
  let symbol = exported.get(name);
  assert.ok(symbol, `src/protocol/events.ts exports ${name}`);
  if (symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
  return checker.getDeclaredTypeOfSymbol(symbol);
}

/** A property's string literals ('breach' | 'breach-ended'), if that is all its type is. */
function literals(type: ts.Type): string[] | undefined {
  const parts = type.isUnion() ? type.types : [type];
  const values = parts.filter((part) => !(part.flags & ts.TypeFlags.Undefined));
  if (!values.every((part) => part.isStringLiteral())) return undefined;
  return values.map((part) => (part as ts.StringLiteralType).value).sort();
}

/** What the types say: property names, the required ones, and each literal property's values. */
function describeType(type: ts.Type) {
  const properties = checker.getPropertiesOfType(type);
  const values: Record<string, string[]> = {};
  for (const property of properties) {
    const found = literals(checker.getTypeOfSymbol(property));
    if (found) values[property.name] = found;
  }
  return {
    names: properties.map((property) => property.name).sort(),
    required: properties
      .filter((property) => !(property.flags & ts.SymbolFlags.Optional))
      .map((property) => property.name)
      .sort(),
    values,
  };
}

/** What the schema says, the same way. */
function describeDefinition(definition: SchemaObject) {
  const properties = definition.properties ?? {};
  const values: Record<string, string[]> = {};
  for (const [name, property] of Object.entries(properties)) {
    const listed = property.const !== undefined ? [property.const] : property.enum;
    if (listed?.every((value) => typeof value === 'string')) values[name] = (listed as string[]).sort();
  }
  return { names: Object.keys(properties).sort(), required: [...(definition.required ?? [])].sort(), values };
}

for (const [name, definition] of Object.entries(TYPES)) {
  test(`${name} and the schema's "${definition}" name the same fields, required the same, with the same values`, () => {
    const fromTypes = describeType(typeNamed(name));
    const fromSchema = describeDefinition(schema.definitions[definition] as SchemaObject);
    assert.deepEqual(fromTypes.names, fromSchema.names, 'fields');
    assert.deepEqual(fromTypes.required, fromSchema.required, 'required fields');
    for (const [field, values] of Object.entries(fromSchema.values)) {
      if (fromTypes.values[field] !== undefined) assert.deepEqual(fromTypes.values[field], values, field);
    }
  });
}

test('every event the types allow is one the schema lists, and no other', () => {
  const union = typeNamed('EventLine');
  assert.ok(union.isUnion());
  const events = union.types.flatMap((member) => describeType(member).values.event ?? []).sort();
  const listed = (schema.oneOf ?? []).flatMap(({ $ref }) => {
    const definition = schema.definitions[$ref.split('/').at(-1) as string] as SchemaObject;
    return describeDefinition(definition).values.event ?? [];
  });
  assert.deepEqual(events, listed.sort());
});

test('parseEventLine takes events and leaves everything else', () => {
  assert.equal(parseEventLine('{"event":"frozen","at":1}')?.event, 'frozen');
  for (const line of ['Welcome to db1', '{"event":"hello"}', '[1]', 'null', '{}']) {
    assert.equal(parseEventLine(line), null, line);
  }
});
