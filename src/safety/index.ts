/**
 * iron's offline safety firewall (SPEC §7): PII, secret and prompt-injection detection, per-agent policies,
 * redaction of texts, streams and API bodies. Pure: no I/O, no network.
 */
export { type EvaluateOptions, type Evaluation, evaluate, redactSpans } from './apply.js'
export {
  type BodyFinding,
  type BodyLimits,
  type BodyResult,
  type BodyWalker,
  DEFAULT_BODY_LIMITS,
  formatPath,
  type PathSegment,
  type RedactBodyOptions,
  redactJsonText,
  redactParts,
  type TextPart,
  type TextSink,
  type WalkedBody,
  walkBody,
} from './bodies.js'
export type { DetectContext, Detector, RawFinding } from './detectors/detector.js'
export {
  DEFAULT_POLICY,
  enabledCategories,
  mergePolicy,
  type PartialSafetyPolicy,
  parsePartialPolicy,
  parsePolicy,
} from './policy.js'
export {
  DETECTORS,
  type DetailedScan,
  type DetectorFailure,
  type ScanOptions,
  scan,
  scanDetailed,
  warmUp,
} from './scan.js'
export {
  DEFAULT_STREAM_MAX_HOLD,
  DEFAULT_STREAM_WINDOW,
  type StreamChunk,
  StreamRedactor,
  type StreamRedactorOptions,
} from './stream.js'
export {
  ACTIONS,
  type Action,
  CATEGORIES,
  CATEGORY_GROUPS,
  type Category,
  type CategoryGroup,
  DEFAULT_INJECTION_THRESHOLD,
  type Direction,
  type EvaluatedFinding,
  type Finding,
  groupOf,
  INJECTION_CATEGORIES,
  isCategory,
  PII_CATEGORIES,
  type PiiCategory,
  redactionLabel,
  type SafetyError,
  type SafetyPolicy,
  SECRET_CATEGORIES,
  type SecretCategory,
} from './types.js'
