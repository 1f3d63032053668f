// Preloaded into an Azurite process (startAzurite({ clock: true })): its clock runs `offset` ms from the
// real one, set by the test over the IPC channel. Azurite then records the blobs it stores as written at
// that time (Last-Modified, Creation-Time) — the only way to hold blobs days old in an in-memory Azurite,
// which has no API to set a blob's times. Nothing else about Azurite changes.
"use strict";
const RealDate = Date;
let offset = 0;
function ShiftedDate(...args) {
    if (!new.target) return new RealDate(RealDate.now() + offset).toString();
    return args.length ? new RealDate(...args) : new RealDate(RealDate.now() + offset);
}
ShiftedDate.prototype = RealDate.prototype;
ShiftedDate.now = () => RealDate.now() + offset;
ShiftedDate.parse = RealDate.parse;
ShiftedDate.UTC = RealDate.UTC;
globalThis.Date = ShiftedDate;
process.on("message", (m) => {
    if (!m || typeof m.clockOffsetMs !== "number") return;
    offset = m.clockOffsetMs;
    process.send({ clockOffsetMs: offset });
});
