// Public surface of @nself/client.
export {};
