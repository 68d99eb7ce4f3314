// Attachment request bodies (cinder/api/schemas/attachments.py), in TypeBox.
import { Type } from '@sinclair/typebox';
import { Uuid } from '../validation.js';

const attachmentCreate = (withMode: boolean) =>
  Type.Object(
    {
      attachment: Type.Object(
        {
          volume_uuid: Uuid,
          // cinderclient leaves it out without a server; other clients send null.
          instance_uuid: Type.Optional(Type.Union([Uuid, Type.Null()])),
          connector: Type.Optional(Type.Union([Type.Object({}), Type.Null()])),
          ...(withMode ? { mode: Type.Optional(Type.Union([Type.Literal('rw'), Type.Literal('ro')])) } : {}),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  );

export const AttachmentCreateBody = attachmentCreate(false);
/** 3.54 adds `mode`. */
export const AttachmentCreateBodyV354 = attachmentCreate(true);

export const AttachmentUpdateBody = Type.Object(
  {
    attachment: Type.Object(
      { connector: Type.Object({}, { minProperties: 1 }) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
