// The host functions the client uses beyond ECMAScript, which browsers, Node and
// mini-program shells all have. Declared here instead of taking the DOM or Node library,
// so that `tsc` refuses any other host API in src/.
declare function setTimeout(callback: () => void, ms?: number): unknown;
declare function clearTimeout(handle: unknown): void;
declare function setInterval(callback: () => void, ms?: number): unknown;
declare function clearInterval(handle: unknown): void;
