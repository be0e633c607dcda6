// Wire types of the Switchboard REST API and staff WebSocket (docs/protocol.md).

export type Availability = 'available' | 'busy' | 'away' | 'offline';
export type ChatState = 'bot' | 'waiting' | 'pending' | 'active' | 'ended';
export type Priority = 'low' | 'normal' | 'high' | 'urgent';
export type TicketStatus = 'open' | 'pending' | 'closed';

export interface User {
  id: number;
  email: string;
  name: string;
  role: 'admin' | 'supervisor' | 'agent';
  disabled: boolean;
  availability: Availability;
  capacity: number; // my preference: most chats at once
  max_capacity: number; // the most an admin lets me set
  load: number; // chats I am in plus exclusive offers I have not answered
  missed_offers: number;
  avatar_url?: string; // root-relative; empty when none
}

export interface Me {
  user: User;
  site_ids: number[] | null;
  csrf_token: string;
}

export interface Conversation {
  id: number;
  site_id: number;
  contact_id: number;
  channel: string; // 'widget' | 'sms' | 'whatsapp' (they texted in) | 'email'
  status: TicketStatus;
  priority: Priority;
  assignee_id?: number;
  department_id?: number;
  tags: string[];
  last_seq: number;
  chat_id?: number;
  chat_state?: ChatState;
  preview: string;
  last_message_at: string;
  created_at: string;
  updated_at: string;
  // list rows (ConversationSummary) only: who the customer is and whether
  // they are on the site now
  contact?: ContactBrief;
  online?: boolean;
}

export interface ContactBrief {
  id: number;
  name: string;
  email: string;
  phone?: string; // E.164, when known (SMS / WhatsApp)
}

export interface StaffMember {
  id: number;
  name: string;
  role: 'admin' | 'supervisor' | 'agent';
  availability: Availability;
  capacity: number;
}

export interface Chat {
  id: number;
  conversation_id: number;
  state: ChatState;
  requested_at: string;
  offered_at: string;
  first_joined_at: string;
  first_response_at: string;
  ended_at: string;
  ended_by?: string;
  ended_by_user_id?: number;
  end_reason?: string;
  rating?: number; // 1-5, omitted until rated
  rating_comment?: string;
  rated_at?: string;
}

export interface Participant {
  user_id: number;
  name: string;
  joined_at: string;
  left_at?: string;
  avatar_url?: string; // root-relative; absent when none
}

export interface ChatView {
  chat: Chat;
  participants: Participant[] | null;
}

export interface Contact {
  id: number;
  site_id: number;
  name: string;
  email: string;
  phone?: string; // E.164, when known (SMS / WhatsApp)
  attributes: Record<string, string> | null; // from a verified identity
  visitor_attributes?: Record<string, string>; // sent by the widget, unverified
  created_at: string;
}

export interface ReadMark {
  conversation_id: number;
  reader_kind: 'visitor' | 'agent';
  reader_id: number;
  seq: number;
  at: string;
}

export interface Presence {
  visitor_session_id: number;
  site_id: number;
  contact_id: number;
  online: boolean;
  url: string;
  title: string;
  visible: boolean;
  minimized: boolean;
  last_seen: string;
}

// ContactVisits is GET /api/v1/contacts/{id}/visits: what the contact's
// visitors told by their presence (docs/protocol.md, visit history).
export interface ContactVisits {
  contact_id: number;
  site_id: number;
  visits: number; // 0: never seen
  first_seen: string;
  last_seen: string;
  timezone: string; // IANA name; '' unknown
  locale: string; // BCP 47; '' unknown
  country: string; // ISO 3166-1 alpha-2 from a trusted proxy; '' unknown
  city: string;
  views: PageView[]; // newest first
}

export interface PageView {
  id: number;
  contact_id: number;
  visitor_session_id: number;
  visit: number;
  url: string;
  title: string;
  viewed_at: string;
}

export interface ConversationView {
  conversation: Conversation;
  chat?: ChatView;
  contact?: Contact;
  read_marks?: ReadMark[] | null;
  presence?: Presence | null;
}

export interface Attachment {
  id: number;
  conversation_id: number;
  name: string;
  content_type: string;
  size: number;
}

export interface Message {
  id: number;
  conversation_id: number;
  seq: number;
  chat_id?: number;
  author_kind: 'visitor' | 'agent' | 'bot' | 'system';
  author_id?: number;
  author_name?: string;
  client_id?: string;
  kind: 'text' | 'note' | 'event';
  visibility: 'public' | 'internal';
  body: string;
  event?: string;
  attachment_id?: number;
  attachment?: Attachment;
  // an inbound email reply: the original mail (GET /attachments/{id})
  raw_attachment_id?: number;
  created_at: string;
}

// POST /conversations/{id}/channel-message: free text (body), or on
// WhatsApp an approved template (template_id "HX…" and its variables).
export interface ChannelMessage {
  channel: 'sms' | 'whatsapp';
  client_id: string;
  body?: string;
  template_id?: string;
  template_vars?: Record<string, string>;
}

// One mail of a conversation (GET /conversations/{id}/mail).
export interface OutboxMail {
  id: number;
  conversation_id: number;
  transport?: 'email' | 'sms' | 'whatsapp' | string;
  kind: 'transcript' | 'reply' | 'confirmation' | 'message' | string;
  to: string;
  message_id: string;
  state: 'pending' | 'sent' | 'failed' | string;
  attempts: number;
  last_error?: string;
  created_at: string;
  sent_at?: string;
}

export interface TypingEvent {
  party: 'visitor' | 'agent';
  user_id?: number;
  name: string;
  typing: boolean;
}

export interface ServerFrame {
  type: string;
  id?: string;
  conversation_id?: number;
  seq?: number;
  data?: unknown;
  error?: { code: string; message: string };
}

// ---------- routing ----------

export type OfferKind = 'route' | 'assign' | 'invite' | 'transfer';
export type OfferState = 'pending' | 'accepted' | 'declined' | 'missed' | 'withdrawn';

export interface Offer {
  chat_id: number;
  user_id: number;
  kind?: OfferKind; // withdrawals omit it
  from_user_id?: number;
  state: OfferState;
  exclusive?: boolean;
  offered_at?: string;
  expires_at?: string;
  resolved_at?: string;
}

export interface OfferEvent {
  offer: Offer;
  conversation: Conversation;
}

export interface TargetAgent {
  id: number;
  name: string;
  availability: Availability;
  load: number;
  capacity: number;
}

export interface TargetDepartment {
  id: number;
  name: string;
  available: number;
}

export interface TransferTargets {
  agents: TargetAgent[] | null;
  departments: TargetDepartment[] | null;
}

export type Strategy = 'broadcast' | 'round_robin' | 'least_busy' | 'priority';
export type QueueDisplay = 'position_and_estimate' | 'position' | 'estimate' | 'none';

export interface Interval {
  start: string; // "HH:MM"
  end: string;
}

export interface HoursException {
  date: string; // YYYY-MM-DD
  name?: string;
  intervals: Interval[];
}

export interface Schedule {
  time_zone: string;
  weekly: Interval[][]; // 7 days, index 0 = Sunday
  exceptions?: HoursException[];
}

export interface RoutingSettings {
  strategy?: Strategy | '';
  offer_timeout_seconds?: number;
  max_misses?: number;
  max_wait_seconds?: number;
  queue_display?: QueueDisplay | '';
  default_department_id?: number;
  disconnect_grace_seconds?: number;
  requeue_after_minutes?: number;
  queue_message?: string;
  unanswered_message?: string;
  after_hours_message?: string;
  auto_reply?: string;
}

export interface Site {
  id: number;
  key: string;
  name: string;
  allowed_origins: string[] | null;
  widget_mode: string;
  routing?: RoutingSettings;
  hours?: Schedule | null;
  created_at: string;
}

export interface Department {
  id: number;
  site_id: number;
  name: string;
  strategy?: Strategy | '';
  offer_timeout_seconds?: number;
  max_wait_seconds?: number;
  hours?: Schedule | null;
  member_ids: number[] | null;
  created_at: string;
}

export interface StaffUser extends User {
  site_ids: number[] | null;
}

// A canned answer an agent inserts by typing "/" in a reply box. Shared
// ones (no owner_id) are managed by admins; personal ones are the agent's.
export interface QuickReply {
  id: number;
  owner_id?: number; // absent or 0: shared
  shortcut: string;
  body: string;
  created_at: string;
  updated_at: string;
}
