// The login phase (RFC 7143 sections 6 and 12): security negotiation (CHAP or none) and
// operational negotiation, one request at a time. Pure protocol logic: the connection feeds
// it reassembled requests and turns its answers into Login Response PDUs.

import { chapResponse, CHAP_MD5, decodeChapBinary, encodeHex, newChallenge, parseChapId, responseMatches } from './chap.js';
import type { ChapCredentials } from '../util/chap.js';
import { LoginFailure, LoginStatus } from './login-status.js';
import { defaultParams, negotiateKey, NOT_UNDERSTOOD, REJECT, type SessionParams, type TargetLimits } from './params.js';
import type { KeyValues } from './text.js';

export const Stage = { SECURITY: 0, OPERATIONAL: 1, FULL_FEATURE: 3 } as const;

export type SessionType = 'Normal' | 'Discovery';

/** What login needs to know about a target; the server's registry provides it. */
export interface LoginTarget {
  iqn: string;
  alias?: string;
  chap: ChapCredentials | null;
  mutualChap: ChapCredentials | null;
  isAllowed(initiator: string): boolean;
}

export interface LoginDirectory {
  findTarget(iqn: string): LoginTarget | undefined;
  /** Discovery: CHAP credentials an initiator may prove, when discovery CHAP is not set. */
  discoveryChapCandidates(initiator: string): Array<{ chap: ChapCredentials; mutualChap: ChapCredentials | null }>;
  discoveryChap: ChapCredentials | null;
  portalGroupTag: number;
  limits: TargetLimits;
}

export interface LoginRequest {
  csg: number;
  nsg: number;
  transit: boolean;
  keys: KeyValues;
}

export interface LoginAnswer {
  keys: KeyValues;
  transit: boolean;
  csg: number;
  nsg: number;
}

type ChapState = 'none' | 'awaiting-algorithm' | 'awaiting-response' | 'done';

const SECURITY_KEYS = new Set(['AuthMethod', 'CHAP_A', 'CHAP_I', 'CHAP_C', 'CHAP_N', 'CHAP_R']);

export class LoginNegotiator {
  initiatorName = '';
  initiatorAlias = '';
  sessionType: SessionType = 'Normal';
  target: LoginTarget | undefined;
  readonly params: SessionParams;
  /** Stage the connection is in (changes when we answer with T=1). */
  stage: number = Stage.SECURITY;
  private first = true;
  private authenticated = false;
  private chapState: ChapState = 'none';
  private chapRequired: ChapCredentials | null = null;
  private chapCandidates: Array<{ chap: ChapCredentials; mutualChap: ChapCredentials | null }> = [];
  private challenge: { id: number; challenge: Buffer } | null = null;
  private declaredOurs = false;
  private sentPortalGroupTag = false;

  constructor(private readonly dir: LoginDirectory) {
    this.params = defaultParams(dir.limits.maxRecvDataSegmentLength);
  }

  get fullFeature(): boolean {
    return this.stage === Stage.FULL_FEATURE;
  }

  /** Handles one complete login request; throws LoginFailure to end the login with a status. */
  handle(req: LoginRequest): LoginAnswer {
    if (req.csg !== Stage.SECURITY && req.csg !== Stage.OPERATIONAL) {
      throw new LoginFailure(LoginStatus.INITIATOR_ERROR, `invalid CSG ${req.csg}`);
    }
    if (req.transit && (req.nsg <= req.csg || req.nsg === 2)) {
      throw new LoginFailure(LoginStatus.INITIATOR_ERROR, `invalid NSG ${req.nsg} from CSG ${req.csg}`);
    }
    if (req.csg < this.stage) throw new LoginFailure(LoginStatus.INITIATOR_ERROR, 'login stage went backwards');
    const keys = new Map<string, string>();
    for (const [k, v] of req.keys) {
      if (keys.has(k)) throw new LoginFailure(LoginStatus.INITIATOR_ERROR, `key ${k} repeated`);
      keys.set(k, v);
    }
    const answers: KeyValues = [];
    if (this.first) {
      this.first = false;
      this.identify(keys, answers);
    } else {
      for (const k of ['InitiatorName', 'SessionType', 'TargetName']) keys.delete(k);
    }
    this.stage = req.csg;

    if (req.csg === Stage.SECURITY) this.security(keys, answers);
    else if (!this.authenticated) {
      // Skipping the security stage is only allowed where no authentication is required.
      if (this.requiresChap()) throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'authentication required');
      this.authenticated = true;
    }
    for (const k of SECURITY_KEYS) {
      if (keys.has(k)) {
        if (req.csg !== Stage.SECURITY) throw new LoginFailure(LoginStatus.INITIATOR_ERROR, `${k} outside security stage`);
        keys.delete(k);
      }
    }
    this.operational(keys, answers);

    let transit = false;
    let nsg = req.nsg;
    if (req.transit) {
      const securityDone = req.csg !== Stage.SECURITY || this.authenticated;
      if (securityDone) {
        transit = true;
        // Our declarations are operational keys: never in a security-stage answer (open-iscsi ends the login
        // on one); they go with the operational stage's transit to full feature.
        if (req.csg === Stage.OPERATIONAL) this.ensureDeclarations(answers, nsg);
      } else nsg = req.csg;
    }
    if (transit) this.stage = nsg;
    return { keys: answers, transit, csg: req.csg, nsg: transit ? nsg : req.csg };
  }

  private identify(keys: Map<string, string>, answers: KeyValues): void {
    const initiator = keys.get('InitiatorName');
    if (!initiator) throw new LoginFailure(LoginStatus.MISSING_PARAMETER, 'InitiatorName missing');
    this.initiatorName = initiator;
    this.initiatorAlias = keys.get('InitiatorAlias') ?? '';
    const type = keys.get('SessionType') ?? 'Normal';
    if (type !== 'Normal' && type !== 'Discovery') {
      throw new LoginFailure(LoginStatus.SESSION_TYPE_NOT_SUPPORTED, `SessionType ${type}`);
    }
    this.sessionType = type;
    keys.delete('InitiatorName');
    keys.delete('InitiatorAlias');
    keys.delete('SessionType');
    if (type === 'Normal') {
      const name = keys.get('TargetName');
      if (!name) throw new LoginFailure(LoginStatus.MISSING_PARAMETER, 'TargetName missing');
      const target = this.dir.findTarget(name);
      if (!target) throw new LoginFailure(LoginStatus.NOT_FOUND, 'target not found');
      if (!target.isAllowed(initiator)) throw new LoginFailure(LoginStatus.AUTHORIZATION_FAILURE, 'initiator not allowed');
      this.target = target;
      this.chapRequired = target.chap;
      if (target.chap) this.chapCandidates = [{ chap: target.chap, mutualChap: target.mutualChap }];
      if (target.alias) answers.push(['TargetAlias', target.alias]);
      answers.push(['TargetPortalGroupTag', String(this.dir.portalGroupTag)]);
      this.sentPortalGroupTag = true;
    } else {
      this.chapRequired = this.dir.discoveryChap;
      this.chapCandidates = this.dir.discoveryChap
        ? [{ chap: this.dir.discoveryChap, mutualChap: null }]
        : this.dir.discoveryChapCandidates(initiator);
    }
    keys.delete('TargetName');
  }

  private requiresChap(): boolean {
    return this.chapRequired !== null;
  }

  private security(keys: Map<string, string>, answers: KeyValues): void {
    const method = keys.get('AuthMethod');
    if (method !== undefined) {
      if (this.chapState !== 'none') throw new LoginFailure(LoginStatus.INITIATOR_ERROR, 'AuthMethod renegotiated');
      const offered = method.split(',');
      if (this.requiresChap()) {
        if (!offered.includes('CHAP')) throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'CHAP required');
        this.chapState = 'awaiting-algorithm';
        answers.push(['AuthMethod', 'CHAP']);
      } else if (offered.includes('None')) {
        this.authenticated = true;
        answers.push(['AuthMethod', 'None']);
      } else if (offered.includes('CHAP') && this.chapCandidates.length > 0) {
        // Discovery where the initiator insists on CHAP: accept the secret of any target it may use.
        this.chapState = 'awaiting-algorithm';
        answers.push(['AuthMethod', 'CHAP']);
      } else {
        throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'no acceptable AuthMethod');
      }
    } else if (this.chapState === 'none' && !this.authenticated) {
      if (this.requiresChap()) throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'AuthMethod missing');
      this.authenticated = true;
    }

    const algorithms = keys.get('CHAP_A');
    if (algorithms !== undefined) {
      if (this.chapState !== 'awaiting-algorithm') throw new LoginFailure(LoginStatus.INITIATOR_ERROR, 'unexpected CHAP_A');
      if (!algorithms.split(',').includes(CHAP_MD5)) {
        throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'CHAP_A without MD5');
      }
      this.challenge = newChallenge();
      answers.push(['CHAP_A', CHAP_MD5], ['CHAP_I', String(this.challenge.id)], ['CHAP_C', encodeHex(this.challenge.challenge)]);
      this.chapState = 'awaiting-response';
      return;
    }

    const name = keys.get('CHAP_N');
    const response = keys.get('CHAP_R');
    if (name !== undefined || response !== undefined) {
      if (this.chapState !== 'awaiting-response' || !this.challenge) {
        throw new LoginFailure(LoginStatus.INITIATOR_ERROR, 'unexpected CHAP_N/CHAP_R');
      }
      if (name === undefined || response === undefined) {
        throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'CHAP_N and CHAP_R must come together');
      }
      const received = decodeChapBinary(response);
      if (!received) throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'CHAP_R malformed');
      const { id, challenge } = this.challenge;
      const match = this.chapCandidates.find(
        (c) => c.chap.username === name && responseMatches(chapResponse(id, c.chap.password, challenge), received),
      );
      if (!match) throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'CHAP response does not match');
      this.mutual(keys, answers, match.mutualChap);
      this.chapState = 'done';
      this.authenticated = true;
      return;
    }
    if (this.chapState === 'awaiting-response' && keys.size === 0) return;
  }

  private mutual(keys: Map<string, string>, answers: KeyValues, mutualChap: ChapCredentials | null): void {
    const idText = keys.get('CHAP_I');
    const challengeText = keys.get('CHAP_C');
    if (idText === undefined && challengeText === undefined) {
      if (mutualChap && this.sessionType === 'Normal') {
        throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'mutual CHAP required');
      }
      return;
    }
    if (idText === undefined || challengeText === undefined || !mutualChap) {
      throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'mutual CHAP not possible');
    }
    const id = parseChapId(idText);
    const challenge = decodeChapBinary(challengeText);
    if (id === null || !challenge || challenge.length === 0 || challenge.length > 1024) {
      throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'mutual CHAP challenge malformed');
    }
    // A reflected challenge would let an attacker use us as an oracle for our own secret.
    if (this.challenge && challenge.equals(this.challenge.challenge)) {
      throw new LoginFailure(LoginStatus.AUTHENTICATION_FAILURE, 'mutual CHAP challenge reflected');
    }
    answers.push(['CHAP_N', mutualChap.username], ['CHAP_R', encodeHex(chapResponse(id, mutualChap.password, challenge))]);
  }

  private operational(keys: Map<string, string>, answers: KeyValues): void {
    for (const [k, v] of keys) {
      if (k === 'TargetAlias' || k === 'TargetAddress' || k === 'TargetPortalGroupTag') {
        // Only the target declares these.
        answers.push([k, REJECT]);
        continue;
      }
      const answer = negotiateKey(k, v, this.params, this.dir.limits);
      if (answer === undefined) answers.push([k, NOT_UNDERSTOOD]);
      else if (answer !== null) answers.push([k, answer]);
    }
    if (this.params.firstBurstLength > this.params.maxBurstLength) this.params.firstBurstLength = this.params.maxBurstLength;
  }

  private ensureDeclarations(answers: KeyValues, _nsg: number): void {
    if (!this.declaredOurs) {
      this.declaredOurs = true;
      answers.push(['MaxRecvDataSegmentLength', String(this.dir.limits.maxRecvDataSegmentLength)]);
    }
    if (!this.sentPortalGroupTag && this.sessionType === 'Normal') {
      this.sentPortalGroupTag = true;
      answers.push(['TargetPortalGroupTag', String(this.dir.portalGroupTag)]);
    }
  }
}
