// Request bodies of volume types, extra specs, type access, encryption types and os-services
// (cinder/api/schemas/volume_types.py, types_extra_specs.py, volume_type_access.py, volume_type_encryption.py,
// services.py; parameter types from cinder/api/validation/parameter_types.py), in TypeBox.
import { Type } from '@sinclair/typebox';
import { NullableString, UUID_PATTERN } from './validation.js';

// parameter_types.boolean: a JSON boolean or one of oslo's strings (an enum, so "maybe" names the allowed values).
const BOOLEAN_STRINGS = ['True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'y', 't', 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no', 'n', 'f'];
export const CinderBool = Type.Union([Type.Boolean(), ...BOOLEAN_STRINGS.map((v) => Type.Literal(v))]);

/** parameter_types.extra_specs_with_null: keys may hold spaces and slashes (type create). */
const ExtraSpecsWithNull = Type.Record(Type.String({ pattern: '^[a-zA-Z0-9-_:. /]{1,255}$' }), Type.Union([Type.String({ maxLength: 255 }), Type.Null()]), {
  additionalProperties: false,
});
/** parameter_types.extra_specs_with_no_spaces_key (extra specs create and update). */
const ExtraSpecsNoSpaces = Type.Record(Type.String({ pattern: '^[a-zA-Z0-9-_:.]{1,255}$' }), Type.Union([Type.String({ maxLength: 255 }), Type.Null()]), {
  additionalProperties: false,
});

// Cinder's schemas list a property named "type" beside the resource key (a slip in volume_types.py that
// jsonschema reads as an optional object property); it is kept so the same bodies pass.
const StrayType = Type.Optional(Type.Object({}));

export const TypeCreateBody = Type.Object(
  {
    type: StrayType,
    volume_type: Type.Object(
      {
        name: Type.String({ minLength: 1, maxLength: 255 }),
        description: Type.Optional(NullableString(255)),
        extra_specs: Type.Optional(Type.Union([ExtraSpecsWithNull, Type.Null()])),
        'os-volume-type-access:is_public': Type.Optional(CinderBool),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export const TypeUpdateBody = Type.Object(
  {
    type: StrayType,
    volume_type: Type.Object(
      {
        name: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()])),
        description: Type.Optional(NullableString(255)),
        is_public: Type.Optional(CinderBool),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export const ExtraSpecsBody = Type.Object({ extra_specs: ExtraSpecsNoSpaces }, { additionalProperties: false });
export const ExtraSpecItemBody = Type.Record(Type.String({ pattern: '^[a-zA-Z0-9-_:.]{1,255}$' }), Type.Union([Type.String({ maxLength: 255 }), Type.Null()]), {
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
});

const projectAccess = (action: string) =>
  Type.Object(
    {
      type: StrayType,
      [action]: Type.Object({ project: Type.String({ pattern: UUID_PATTERN }) }, { additionalProperties: false }),
    },
    { additionalProperties: false },
  );
export const AddProjectAccessBody = projectAccess('addProjectAccess');
export const RemoveProjectAccessBody = projectAccess('removeProjectAccess');

const encryption = (required: boolean) => {
  const props = {
    key_size: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 2147483647 }), Type.String({ pattern: '^\\s*[+-]?[0-9]+\\s*$' }), Type.Null()])),
    provider: Type.String({ minLength: 0, maxLength: 255 }),
    control_location: Type.Union([Type.Literal('front-end'), Type.Literal('back-end')]),
    cipher: Type.Optional(Type.Union([Type.String({ minLength: 0, maxLength: 255 }), Type.Null()])),
  };
  // additionalProperties: True in Cinder's schema: other keys are accepted (and echoed back).
  return Type.Object(
    {
      encryption: required
        ? Type.Object(props)
        : Type.Object({ ...props, provider: Type.Optional(props.provider), control_location: Type.Optional(props.control_location) }),
    },
    { additionalProperties: false },
  );
};
export const EncryptionCreateBody = encryption(true);
export const EncryptionUpdateBody = encryption(false);

const CinderHost = Type.Union([Type.String({ minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9-._#@:/+\\[\\]]*$' }), Type.Null()]);

export const ServiceEnableBody = Type.Object(
  {
    binary: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    host: Type.Optional(CinderHost),
    cluster: Type.Optional(NullableString(255)),
    service: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  { additionalProperties: false },
);

export const ServiceDisableLogReasonBody = Type.Object(
  {
    binary: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    host: Type.Optional(CinderHost),
    cluster: Type.Optional(NullableString(255)),
    service: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    disabled_reason: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  { additionalProperties: false },
);

export const FreezeThawBody = Type.Object(
  {
    cluster: Type.Optional(NullableString(255)),
    host: Type.Optional(CinderHost),
  },
  { additionalProperties: false },
);

/** cinder/api/schemas/volume_actions.py retype. */
export const RetypeBody = Type.Object(
  {
    'os-retype': Type.Object(
      {
        new_type: Type.String(),
        migration_policy: Type.Optional(Type.Union([Type.Literal('on-demand'), Type.Literal('never'), Type.Null()])),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

/** cinder/api/schemas/qos_specs.py create: a name and any further keys (consumer among them). */
export const QosCreateBody = Type.Object(
  {
    type: StrayType,
    qos_specs: Type.Object(
      { name: Type.String({ minLength: 1, maxLength: 255 }) },
      { additionalProperties: Type.Union([Type.String({ maxLength: 255 }), Type.Null()]) },
    ),
  },
  { additionalProperties: false },
);

/** qos_specs.py set: parameter_types.extra_specs_with_null. */
export const QosSetBody = Type.Object({ qos_specs: ExtraSpecsWithNull }, { additionalProperties: false });

/** qos_specs.py unset. */
export const QosUnsetBody = Type.Object(
  { keys: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { uniqueItems: true }) },
  { additionalProperties: false },
);
