// Request bodies (cinder/api/schemas/*.py), in TypeBox.
import { Type, type TSchema } from '@sinclair/typebox';
import { Bool, Metadata, NullableString, Uuid, VolumeSize } from './validation.js';

const NullableName = NullableString(255);

/** An action body: exactly one key, the action name, whose value has the given shape. */
const action = (name: string, inner: TSchema) => Type.Object({ [name]: inner }, { additionalProperties: false });

export const AttachBody = action(
  'os-attach',
  Type.Object(
    {
      instance_uuid: Type.Optional(Uuid),
      mountpoint: Type.String({ minLength: 1, maxLength: 255 }),
      host_name: Type.Optional(Type.String({ maxLength: 255 })),
      mode: Type.Optional(Type.Union([Type.Literal('rw'), Type.Literal('ro')])),
    },
    { additionalProperties: false },
  ),
);

export const DetachBody = action(
  'os-detach',
  Type.Union([Type.Object({ attachment_id: Type.Optional(Type.Union([Uuid, Type.Null()])) }, { additionalProperties: false }), Type.Null()]),
);

export const InitializeConnectionBody = action(
  'os-initialize_connection',
  Type.Object({ connector: Type.Union([Type.Object({}), Type.String()]) }, { additionalProperties: false }),
);

export const TerminateConnectionBody = action(
  'os-terminate_connection',
  Type.Object({ connector: Type.Union([Type.Object({}), Type.String(), Type.Null()]) }, { additionalProperties: false }),
);

export const ForceDetachBody = action(
  'os-force_detach',
  Type.Union([
    Type.Object(
      {
        connector: Type.Optional(Type.Union([Type.Object({}), Type.String(), Type.Null()])),
        attachment_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ]),
);

export const ExtendBody = action('os-extend', Type.Object({ new_size: VolumeSize }, { additionalProperties: false }));

export const ReadonlyBody = action('os-update_readonly_flag', Type.Object({ readonly: Bool }, { additionalProperties: false }));

export const BootableBody = action('os-set_bootable', Type.Object({ bootable: Bool }, { additionalProperties: false }));

export const ResetStatusBody = action(
  'os-reset_status',
  Type.Object(
    {
      status: Type.Optional(Type.String()),
      attach_status: Type.Optional(Type.String()),
      migration_status: Type.Optional(Type.String()),
    },
    { additionalProperties: false, minProperties: 1 },
  ),
);

// cinder/api/schemas/snapshots.py
const SnapshotName = Type.Union([Type.String({ maxLength: 255 }), Type.Null()]);
export const SnapshotCreateBody = Type.Object(
  {
    snapshot: Type.Object(
      {
        name: Type.Optional(SnapshotName),
        display_name: Type.Optional(SnapshotName),
        description: Type.Optional(NullableName),
        volume_id: Type.Union([Uuid, Type.Null()]),
        force: Type.Optional(Bool),
        metadata: Type.Optional(Type.Union([Metadata, Type.Null()])),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export const SnapshotUpdateBody = Type.Object(
  {
    snapshot: Type.Object(
      {
        name: Type.Optional(SnapshotName),
        description: Type.Optional(NullableName),
        display_name: Type.Optional(SnapshotName),
        display_description: Type.Optional(NullableName),
      },
      { additionalProperties: false, minProperties: 1 },
    ),
  },
  { additionalProperties: false },
);

/** cinder/api/schemas/admin_actions.py reset_status_snapshot; the status is checked against SNAPSHOT_STATUSES. */
export const SnapshotResetStatusBody = action('os-reset_status', Type.Object({ status: Type.String() }, { additionalProperties: false }));

/** cinder/api/schemas/snapshot_actions.py */
export const UpdateSnapshotStatusBody = action(
  'os-update_snapshot_status',
  Type.Object({ status: Type.String(), progress: Type.Optional(Type.String()) }, { additionalProperties: false }),
);

/** revert (3.40): api/v3/volumes.py revert reads body['revert'].get('snapshot_id') with no schema. */
export const RevertBody = action('revert', Type.Object({ snapshot_id: Type.Optional(Type.Union([Type.String(), Type.Null()])) }));
