// The part of the WebAssembly JS API lib/compress uses. TypeScript declares it only in the DOM
// library, which this package does not compile against; Node has it as a global.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: ArrayBufferView | ArrayBuffer);
  }
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Exports;
  }
  type Imports = Record<string, Record<string, unknown>>;
  type Exports = Record<string, unknown>;
  function compile(bytes: ArrayBufferView | ArrayBuffer): Promise<Module>;
}
