// Volume and volume metadata request bodies (cinder/api/schemas/volumes.py, volume_metadata.py), per microversion.
import { Type, type TSchema } from '@sinclair/typebox';
import { CinderFault } from '../../errors.js';
import { Bool, Uuid, VolumeSize } from '../validation.js';

/** parameter_types.extra_specs: what volume metadata keys and values may be. */
export const METADATA_KEY_PATTERN = '^[a-zA-Z0-9-_:. /]{1,255}$';
export const MetadataMap = Type.Record(Type.String({ pattern: METADATA_KEY_PATTERN }), Type.String({ maxLength: 255 }), {
  additionalProperties: false,
});

const NullableUuid = Type.Union([Type.Null(), Uuid]);
const NullableText255 = Type.Union([Type.String({ maxLength: 255 }), Type.Null()]);
/** name / description: strings or null, their length checked after trimming (checkNameLengths). */
const NullableString = Type.Union([Type.String(), Type.Null()]);

function createProps(minor: number): Record<string, TSchema> {
  const props: Record<string, TSchema> = {
    name: Type.Optional(NullableString),
    description: Type.Optional(NullableString),
    display_name: Type.Optional(NullableString),
    display_description: Type.Optional(NullableString),
    volume_type: Type.Optional(NullableText255),
    metadata: Type.Optional(Type.Union([MetadataMap, Type.Null()])),
    snapshot_id: Type.Optional(NullableUuid),
    source_volid: Type.Optional(NullableUuid),
    consistencygroup_id: Type.Optional(NullableUuid),
    size: Type.Optional(Type.Union([VolumeSize, Type.Null()])),
    availability_zone: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()])),
    multiattach: Type.Optional(Type.Union([Type.Null(), Bool])),
    image_id: Type.Optional(NullableText255),
    imageRef: Type.Optional(NullableText255),
  };
  if (minor >= 13) props.group_id = Type.Optional(NullableText255);
  if (minor >= 47) props.backup_id = Type.Optional(NullableUuid);
  return props;
}

function createBody(minor: number) {
  return Type.Object(
    {
      // Unknown keys inside `volume` are ignored until 3.53 (SUPPORT_VOLUME_SCHEMA_CHANGES), refused from it.
      volume: Type.Object(createProps(minor), { additionalProperties: minor >= 53 ? false : true }),
      'OS-SCH-HNT:scheduler_hints': Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
    },
    { additionalProperties: false },
  );
}

const CREATE_BODIES = [createBody(0), createBody(13), createBody(47), createBody(53)];

/** The create schema in force at a microversion (create, create_volume_v313, _v347, _v353). */
export function volumeCreateBody(minor: number) {
  return minor >= 53 ? CREATE_BODIES[3] : minor >= 47 ? CREATE_BODIES[2] : minor >= 13 ? CREATE_BODIES[1] : CREATE_BODIES[0];
}

export const VolumeUpdateBody = Type.Object(
  {
    volume: Type.Object(
      {
        name: Type.Optional(NullableString),
        description: Type.Optional(NullableString),
        display_name: Type.Optional(NullableString),
        display_description: Type.Optional(NullableString),
        metadata: Type.Optional(MetadataMap),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

/**
 * The name_/description_non_mandatory_remove_white_spaces formats: an empty or missing value passes, anything
 * else may be 255 characters once trimmed (cinder/api/validation/validators.py, oslo check_string_length).
 */
export function checkNameLengths(v: Record<string, unknown>): void {
  for (const [key, entity] of [['name', 'name'], ['display_name', 'name'], ['description', 'description'], ['display_description', 'description']] as const) {
    const value = v[key];
    if (typeof value !== 'string' || value === '') continue;
    const length = [...value.trim()].length;
    if (length > 255) throw new CinderFault(400, `Invalid input received: ${entity} has ${length} characters, more than 255.`);
  }
}

export const MetadataCreateBody = Type.Object({ metadata: MetadataMap }, { additionalProperties: false });

/** `meta`: exactly one key (volume_metadata.update, metadata_restricted_properties). */
export const MetadataItemBody = Type.Object(
  {
    meta: Type.Record(Type.String({ pattern: METADATA_KEY_PATTERN }), Type.String({ maxLength: 255 }), {
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
    }),
  },
  { additionalProperties: false },
);
