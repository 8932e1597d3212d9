// The kernel/user struct layouts, generated from the objects' BTF at build time (tools/gen-layout.ts).
export * from '../gen/layout.js';
