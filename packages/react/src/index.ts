// Public surface of @nself/react.
export {};
