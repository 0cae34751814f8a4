// The React context that hands a RealtimeClient to the hooks below it.
import { createContext, useContext, type ReactNode } from 'react';
import type { RealtimeClient } from '@nself/client';

const RealtimeContext = createContext<RealtimeClient | null>(null);

/** Props of RealtimeProvider. */
export interface RealtimeProviderProps {
  /** The client the hooks below use; create it once, outside the component. */
  client: RealtimeClient;
  children?: ReactNode;
}

/**
 * Makes `client` available to `useChannel`, `usePresence` and `useTableChanges` below it.
 *
 * @example
 * const client = new RealtimeClient({ url: 'ws://localhost:3100', apiKey });
 * root.render(<RealtimeProvider client={client}><ChatRoom roomId="general" /></RealtimeProvider>);
 */
export function RealtimeProvider({ client, children }: RealtimeProviderProps): ReactNode {
  return <RealtimeContext.Provider value={client}>{children}</RealtimeContext.Provider>;
}

/** The client of the nearest RealtimeProvider; throws when there is none. */
export function useRealtimeClient(): RealtimeClient {
  const client = useContext(RealtimeContext);
  if (!client) throw new Error('useChannel, usePresence and useTableChanges need a <RealtimeProvider client={client}> above them');
  return client;
}
