// Request-body validation with TypeBox, reporting the first problem the way Cinder's jsonschema validator does:
// "Invalid input for field/attribute <key>. Value: <python repr>. <jsonschema message>" (docs/cinder-compatibility.md#validation-errors).
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Type, type TSchema, type Static } from '@sinclair/typebox';
import { CinderFault } from '../errors.js';

/** Python's repr(), since Cinder's messages print request values that way. */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'string') {
    if (v.includes("'") && !v.includes('"')) return `"${v}"`;
    return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ')}}`;
  }
  return String(v);
}

function jsonTypeNames(schema: TSchema): string[] {
  if (schema.anyOf) return (schema.anyOf as TSchema[]).flatMap(jsonTypeNames);
  if (schema.const !== undefined) return [];
  if (typeof schema.type === 'string') return [schema.type];
  if (Array.isArray(schema.type)) return schema.type as string[];
  return [];
}

function enumValues(schema: TSchema): unknown[] | null {
  if (!schema.anyOf) return null;
  const members = schema.anyOf as TSchema[];
  if (!members.every((m) => m.const !== undefined)) return null;
  return members.map((m) => m.const);
}

function splitPath(path: string): string[] {
  return path === '' ? [] : path.slice(1).split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function valueAt(root: unknown, parts: string[]): unknown {
  let cur: unknown = root;
  for (const p of parts) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p] : undefined;
  return cur;
}

/** The jsonschema message for one TypeBox error, and the path jsonschema would report it at. */
function describe(err: ValueError): { at: string[]; message: string } {
  const parts = splitPath(err.path);
  const v = err.value;
  const s = err.schema;
  switch (err.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return { at: parts.slice(0, -1), message: `${pyRepr(parts[parts.length - 1])} is a required property` };
    case ValueErrorType.ObjectAdditionalProperties: {
      const extra = pyRepr(parts[parts.length - 1]);
      // jsonschema words it differently when the object names its keys by pattern (e.g. metadata, extra specs).
      const patterns = s.patternProperties ? Object.keys(s.patternProperties as object).sort() : [];
      if (patterns.length) return { at: parts.slice(0, -1), message: `${extra} does not match any of the regexes: ${patterns.map(pyRepr).join(', ')}` };
      return { at: parts.slice(0, -1), message: `Additional properties are not allowed (${extra} was unexpected)` };
    }
    case ValueErrorType.StringMinLength:
      return { at: parts, message: `${pyRepr(v)} is too short` };
    case ValueErrorType.StringMaxLength:
      return { at: parts, message: `${pyRepr(v)} is too long` };
    case ValueErrorType.StringPattern:
      return { at: parts, message: `${pyRepr(v)} does not match ${pyRepr(s.pattern)}` };
    case ValueErrorType.StringFormat:
      return { at: parts, message: `${pyRepr(v)} is not a ${pyRepr(s.format)}` };
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return { at: parts, message: `${pyRepr(v)} is less than the minimum of ${s.minimum}` };
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return { at: parts, message: `${pyRepr(v)} is greater than the maximum of ${s.maximum}` };
    case ValueErrorType.ArrayMinItems:
      return { at: parts, message: `${pyRepr(v)} is too short` };
    case ValueErrorType.ArrayMaxItems:
      return { at: parts, message: `${pyRepr(v)} is too long` };
    case ValueErrorType.ArrayUniqueItems:
      return { at: parts, message: `${pyRepr(v)} has non-unique elements` };
    case ValueErrorType.ObjectMinProperties:
      return { at: parts, message: `${pyRepr(v)} does not have enough properties` };
    case ValueErrorType.ObjectMaxProperties:
      return { at: parts, message: `${pyRepr(v)} has too many properties` };
    case ValueErrorType.Union: {
      const values = enumValues(s);
      if (values) {
        // jsonschema checks `type` before `enum`: a value of another JSON type is reported as such.
        const typeOf = (x: unknown) => (x === null ? 'null' : typeof x === 'number' ? (Number.isInteger(x) ? 'integer' : 'number') : typeof x);
        const types = [...new Set(values.map(typeOf))];
        if (!types.includes(typeOf(v)) && !(typeOf(v) === 'integer' && types.includes('number'))) {
          return { at: parts, message: `${pyRepr(v)} is not of type ${types.map((n) => pyRepr(n)).join(', ')}` };
        }
        return { at: parts, message: `${pyRepr(v)} is not one of ${pyRepr(values)}` };
      }
      // A union of a type with constraints (e.g. size: integer >= 1 or digit string) reports the inner failure.
      const inner = err.errors.map((it) => it.First()).find((e) => e !== undefined && e.path === err.path && e.type !== ValueErrorType.Integer && e.type !== ValueErrorType.String && e.type !== ValueErrorType.Null && e.type !== ValueErrorType.Object && e.type !== ValueErrorType.Boolean);
      if (inner) return describe(inner);
      const names = jsonTypeNames(s);
      if (names.length) return { at: parts, message: `${pyRepr(v)} is not of type ${names.map((n) => pyRepr(n)).join(', ')}` };
      return { at: parts, message: `${pyRepr(v)} is not valid under any of the given schemas` };
    }
    default: {
      const names = jsonTypeNames(s);
      if (names.length) return { at: parts, message: `${pyRepr(v)} is not of type ${names.map((n) => pyRepr(n)).join(', ')}` };
      return { at: parts, message: `${pyRepr(v)} is not valid` };
    }
  }
}

export function validationFault(root: unknown, err: ValueError): CinderFault {
  const { at, message } = describe(err);
  if (at.length === 0) return new CinderFault(400, message);
  const key = at[at.length - 1];
  return new CinderFault(400, `Invalid input for field/attribute ${key}. Value: ${pyRepr(valueAt(root, at))}. ${message}`);
}

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checker<T extends TSchema>(schema: T): TypeCheck<T> {
  let c = compiled.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    compiled.set(schema, c);
  }
  return c as TypeCheck<T>;
}

/** Returns the value typed by the schema, or throws the 400 a Cinder client expects. */
export function validate<T extends TSchema>(schema: T, value: unknown): Static<T> {
  const c = checker(schema);
  if (c.Check(value)) return value;
  const first = c.Errors(value).First();
  throw first ? validationFault(value, first) : new CinderFault(400, 'Invalid input received: the request body is not valid.');
}

/** For fastify's setValidatorCompiler: body schemas fail with the same Cinder message. */
export function cinderValidatorCompiler({ schema }: { schema: unknown }) {
  const s = schema as TSchema;
  return (data: unknown) => {
    try {
      return { value: validate(s, data) };
    } catch (err) {
      return { error: err as Error };
    }
  };
}

// Shared parameter types (cinder/api/validation/parameter_types.py), expressed in TypeBox.
/** parameter_types.boolean: exactly these spellings, nothing else (not 'Y', not 'tRUE'). */
const BOOLEAN_ENUM = [true, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'y', 't',
  false, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no', 'n', 'f'] as const;
export const Bool = Type.Union(BOOLEAN_ENUM.map((v) => Type.Literal(v)));
/** cinder/common/constants.py DB_MAX_INT: the largest size or count a column holds. */
export const DB_MAX_INT = 0x7fffffff;
export const VolumeSize = Type.Union([Type.Integer({ minimum: 1, maximum: DB_MAX_INT }), Type.String({ pattern: '^[0-9]+$' })]);
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$';
export const Uuid = Type.String({ pattern: UUID_PATTERN });
export const NullableString = (max = 255) => Type.Union([Type.String({ maxLength: max }), Type.Null()]);
export const Metadata = Type.Record(Type.String({ minLength: 1, maxLength: 255 }), Type.String({ maxLength: 255 }));

/** oslo's bool_from_string(strict=True) after the schema accepted the value. */
export function toBoolean(v: boolean | string): boolean {
  if (typeof v === 'boolean') return v;
  return ['true', 't', 'yes', 'y', 'on', '1'].includes(v.toLowerCase());
}
