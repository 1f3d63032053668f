// The contracts shared by the Pulumi program, the job image and the policy pack
// (docs/architecture.md "Contracts").
export * from "./config";
export * from "./aws-config";
export * from "./azure-config";
export * from "./validate";
export * from "./retention";
export * from "./bucket-retention";
export * from "./paths";
export * from "./manifest";
export * from "./cron";
export * from "./metrics";
export * from "./redact";
export * from "./stackfile";
export * from "./chain";
export * from "./postgres";
export * from "./object-names";
export * from "./hosts";
export * from "./drills";
export * from "./record-signature";
export * from "./object-list";
