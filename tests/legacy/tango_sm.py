"""A legacy 5GTANGO specific manager (SSM or FSM) for wasmano's tests.

It talks to the orchestrator over RabbitMQ exactly the way 5GTANGO's Python
managers did (amqpstorm on pamqp 2, YAML bodies written with ``yaml.dump``
and read with ``yaml.load``), but carries its own small messaging layer
instead of 5GTANGO's ``sonmanobase``/``smbase`` packages. The wire protocol
it follows is the one ``LEGACY-BUS.md`` describes:

* §1 (broker, exchange, client library): it reads ``broker_host`` (an AMQP
  URL that names the vhost), ``broker_exchange`` and ``sf_uuid`` from the
  environment; declares the exchange (topic, not durable, not auto-delete)
  on every publish and subscribe; gives every subscription its own queue
  ``q.<topic>.<uuid4>`` (not durable, not exclusive, not auto-delete) bound
  with the topic as routing key, prefetch 100, consumer tag = queue name,
  acknowledged after the callback returns; publishes on a new channel each
  time with ``app_id`` ``<sm_id>-<sf_uuid>`` and ``content_type``
  ``application/json``, leaving ``correlation_id`` and ``reply_to`` off the
  wire when they are empty.
* §2 (request/response): a request carries ``reply_to`` = its own topic and
  a fresh ``correlation_id``; its response is the first message on that
  topic without ``reply_to`` and with that ``correlation_id``. Events are
  answered with a notification on the event's topic carrying the request's
  ``correlation_id``, no ``reply_to`` and headers
  ``{key: default, type: request}``.
* §5 (registration): subscribe to ``generic.<ssm|fsm>.<sf_uuid>`` first (as
  the tng-sdk-sm base does), ask ``specific.manager.registry.ssm.registration``
  (FSMs too) with ``{specific_manager_id, version: '0.1', sf_uuid}``, wait
  20 s for the answer, and on ``status: registered`` publish
  ``{name, status: 'Subscribed, waiting for alert message'}`` on
  ``specific.manager.registry.ssm.status``. A missing or refused
  registration is only logged: the manager stays up, as 5GTANGO's did.
* §6 (lifecycle events): requests are told apart by ``ssm_type`` /
  ``fsm_type``; anything without one (its own replies, for instance) is
  ignored. The replies do real work on the payload; see ``reply_for``.
  An SSM monitor alert carrying ``request_workflow`` makes it publish that
  workflow request unasked on ``monitor.ssm.<sf_uuid>`` (see ``on_alert``).
* §8.8: when its connection closes (the vhost is deleted) or it gets
  SIGTERM, the process exits within about a second.

Where 5GTANGO's layer was racy or could hang, this one is not, without
changing anything on the wire: a subscription's queue is bound before
``subscribe`` returns (5GTANGO bound it on a pool thread and slept 0.1 s),
consumers run on daemon threads (not a ThreadPoolExecutor, which CPython
joins at exit), and closing the connection gives up after a second.

``--behaviour`` turns it into the misbehaving managers the orchestrator must
survive (see ``BEHAVIOURS``). Every message received or sent is logged on
stderr, one line each.

Usage: ``tango_sm.py --type ssm|fsm --id <sm_id> [--behaviour <behaviour>]``
"""

import argparse
import logging
import os
import signal
import sys
import threading
import time
import uuid

import yaml
from amqpstorm import AMQPError, UriConnection

LOG = logging.getLogger('tango_sm')

BROKER_URL_FALLBACK = 'amqp://guest:guest@localhost:5672/%2F'
EXCHANGE_FALLBACK = 'son-kernel'
REGISTRATION_TOPIC = 'specific.manager.registry.ssm.registration'
STATUS_TOPIC = 'specific.manager.registry.ssm.status'
REGISTRATION_TIMEOUT = 20
REQUEST_HEADERS = {'key': 'default', 'type': 'request'}

BEHAVIOURS = {
    'normal': 'registers, then answers every event',
    'silent': 'registers, never answers an event',
    'twice': 'answers every event, then answers it again with an error',
    'late-subscribe': 'subscribes to its events 2 s after registering '
                      '(the old sm-base trap: earlier events are lost)',
    'no-register': 'connects, never registers nor subscribes, stays up',
    'lowercase': "answers 'completed' with no 'error' key, as the "
                 "pilots' FSMs did",
    'error': 'answers every event with status ERROR',
    'slow': 'answers every event after 3 s',
    'stall-after-first': 'answers its first event at once and every later '
                         'one after 60 s',
    'wim-links': 'places every virtual link on WIM wim-x, which no '
                 'infrastructure has',
}

# What a handler returns for a message that expects no answer.
NO_REPLY = object()

# The top-level field each request carries (LEGACY-BUS §6): SSM task and
# configure carry their data at the top, the other events in `content`.
EXPECTED_FIELDS = {
    ('ssm', 'task'): 'schedule',
    ('ssm', 'placement'): 'content',
    ('ssm', 'configure'): 'workflow',
    ('ssm', 'state'): 'content',
    ('fsm', 'start'): 'content',
    ('fsm', 'stop'): 'content',
    ('fsm', 'configure'): 'content',
    ('fsm', 'scale'): 'content',
    ('fsm', 'state'): 'content',
}


def load_yaml(text):
    """Parse a message body as 5GTANGO's managers did.

    They called ``yaml.load`` without a Loader, which PyYAML 5 runs with
    its FullLoader (and a warning); the Loader is named here to keep the
    log clean. JSON bodies parse too, JSON being YAML.
    """
    return yaml.load(text, Loader=yaml.FullLoader)


def dump_yaml(data):
    """Serialize a reply in the block style of PyYAML 5's ``yaml.dump``."""
    return yaml.dump(data, default_flow_style=False)


class Bus:
    """One connection to the broker, used as 5GTANGO's messaging layer did.

    ``stopped`` is set when any subscription stops consuming, which happens
    when the broker closes the connection or cancels the consumers (the
    vhost is deleted).
    """

    def __init__(self, url, exchange, app_id, stopped):
        """Connect to ``url`` (raises ``AMQPError`` when that fails)."""
        self.exchange = exchange
        self.app_id = app_id
        self.stopped = stopped
        self._connection = UriConnection(url)
        self._pending = {}
        self._response_topics = set()
        self._lock = threading.Lock()

    @property
    def alive(self):
        """Whether the connection is open and has met no error."""
        try:
            self._connection.check_for_errors()
        except AMQPError:
            return False
        return self._connection.is_open

    def close(self, timeout=1.0):
        """Close the connection, waiting at most ``timeout`` seconds.

        amqpstorm waits for the broker's Close-Ok for its whole connection
        timeout, which never comes when the broker is dropping the
        connection itself (the vhost was deleted); the process must not
        hang on that, so the close runs on a daemon thread.
        """
        def close():
            try:
                self._connection.close()
            except AMQPError as error:
                LOG.debug('closing the connection: %s', error)

        closer = threading.Thread(target=close, name='close', daemon=True)
        closer.start()
        closer.join(timeout)
        if closer.is_alive():
            LOG.info('the broker did not confirm closing the connection')

    def _declare_exchange(self, channel):
        channel.exchange.declare(exchange=self.exchange,
                                 exchange_type='topic',
                                 durable=False, auto_delete=False)

    def publish(self, topic, body, correlation_id=None, reply_to=None,
                headers=None):
        """Publish ``body`` on ``topic`` on a channel of its own.

        ``correlation_id`` and ``reply_to`` are left out of the properties
        when empty, so they are absent on the wire as with pamqp 2.
        """
        properties = {
            'app_id': self.app_id,
            'content_type': 'application/json',
            'headers': dict(headers or {}),
        }
        if correlation_id:
            properties['correlation_id'] = correlation_id
        if reply_to:
            properties['reply_to'] = reply_to
        with self._connection.channel() as channel:
            self._declare_exchange(channel)
            channel.basic.publish(body=body, routing_key=topic,
                                  exchange=self.exchange,
                                  properties=properties)

    def notify(self, topic, body, correlation_id=None):
        """Publish a one-way message, as the managers' ``notify``."""
        self.publish(topic, body, correlation_id=correlation_id,
                     headers=REQUEST_HEADERS)

    def subscribe(self, topic, callback):
        """Consume ``topic`` on a queue of its own; return the queue name.

        The queue is declared and bound before this returns, so a message
        published afterwards reaches it; consuming runs on a daemon thread
        that calls ``callback(topic, properties, body)`` for each message
        and acknowledges it afterwards.
        """
        queue = f'q.{topic}.{uuid.uuid4()}'
        channel = self._connection.channel()
        self._declare_exchange(channel)
        channel.queue.declare(queue=queue, durable=False, exclusive=False,
                              auto_delete=False)
        channel.queue.bind(queue=queue, exchange=self.exchange,
                           routing_key=topic)
        channel.basic.qos(prefetch_count=100)

        def on_message(message):
            try:
                callback(topic, message.properties, message.body)
            except AMQPError:
                raise
            except Exception:  # pylint: disable=broad-except
                LOG.exception('handling a message on %s failed', topic)
            message.ack()

        channel.basic.consume(on_message, queue=queue, consumer_tag=queue,
                              no_ack=False)
        threading.Thread(target=self._consume, args=(channel, queue),
                         name=queue, daemon=True).start()
        LOG.info('subscribed to %s (queue %s)', topic, queue)
        return queue

    def _consume(self, channel, queue):
        try:
            channel.start_consuming(to_tuple=False)
            LOG.info('consumer %s was cancelled', queue)
        except AMQPError as error:
            LOG.info('consumer %s stopped: %s', queue, error)
        finally:
            self.stopped.set()

    def call_async(self, topic, body, callback):
        """Send a request on ``topic``; ``callback(body)`` gets its response.

        The first call on a topic subscribes to it. The response is the
        first message on the topic with no ``reply_to`` and this request's
        ``correlation_id``; later ones are dropped.
        """
        with self._lock:
            if topic not in self._response_topics:
                self._response_topics.add(topic)
                self.subscribe(topic, self._on_response)
            correlation_id = str(uuid.uuid4())
            self._pending[correlation_id] = callback
        self.publish(topic, body, correlation_id=correlation_id,
                     reply_to=topic, headers=REQUEST_HEADERS)
        log_message('sent', topic, correlation_id, 'request')
        return correlation_id

    def _on_response(self, topic, properties, body):
        correlation_id = properties.get('correlation_id')
        if properties.get('reply_to'):
            log_message('received', topic, correlation_id,
                        'request (not a response, ignored)')
            return
        with self._lock:
            callback = self._pending.pop(correlation_id, None)
        if callback is None:
            log_message('received', topic, correlation_id,
                        'response to no pending request (ignored)')
            return
        log_message('received', topic, correlation_id, 'response')
        callback(body)


def log_message(direction, topic, correlation_id, kind):
    """Log one message received or sent."""
    LOG.info('%s %s correlation_id=%s type=%s', direction, topic,
             correlation_id or '-', kind)


class LegacyManager:
    """An SSM or FSM as 5GTANGO's templates wrote them, with a behaviour."""

    def __init__(self, kind, sm_id, sf_uuid, behaviour, bus):
        """Make the manager; nothing is sent before ``start``."""
        self.kind = kind
        self.sm_id = sm_id
        self.sf_uuid = sf_uuid
        self.behaviour = behaviour
        self.bus = bus
        self.type_key = f'{kind}_type'
        self.topic = f'generic.{kind}.{sf_uuid}'
        self.events_answered = 0

    def start(self):
        """Subscribe and register as ``behaviour`` says (LEGACY-BUS §5).

        Blocks until the registration is answered, up to 20 s, or the
        process is stopping.
        """
        if self.behaviour == 'no-register':
            LOG.info('behaviour no-register: not registering')
            return
        if self.behaviour != 'late-subscribe':
            self.bus.subscribe(self.topic, self.on_event)
        response = self.register()
        if response is None:
            if not self.bus.stopped.is_set():
                LOG.error('Registration response not received.')
            return
        if response.get('status') != 'registered':
            LOG.error('registration refused: %s', response)
            return
        LOG.info('registered, uuid %s', response.get('uuid'))
        self.on_registration_ok()

    def register(self):
        """Ask the registry to register this manager; return its answer.

        Returns the parsed response, or None when none came within 20 s.
        """
        answered = threading.Event()
        responses = []

        def on_response(body):
            responses.append(load_yaml(body))
            answered.set()

        request = {
            'specific_manager_id': self.sm_id,
            'version': '0.1',
            'sf_uuid': self.sf_uuid,
        }
        self.bus.call_async(REGISTRATION_TOPIC, dump_yaml(request),
                            on_response)
        deadline = time.monotonic() + REGISTRATION_TIMEOUT
        while not answered.wait(0.1):
            if self.bus.stopped.is_set() or time.monotonic() >= deadline:
                return None
        return responses[0]

    def on_registration_ok(self):
        """Publish the status notification; late subscribers subscribe.

        The old sm-base managers published the status first and only then
        subscribed to their events; ``late-subscribe`` does the same after
        sleeping 2 s, so events sent meanwhile reach no queue.
        """
        status = {
            'name': self.sm_id,
            'status': 'Subscribed, waiting for alert message',
        }
        # A plain publish in 5GTANGO, hence empty headers (LEGACY-BUS §5).
        self.bus.publish(STATUS_TOPIC, dump_yaml(status))
        log_message('sent', STATUS_TOPIC, None, 'status')
        if self.behaviour == 'late-subscribe':
            LOG.info('behaviour late-subscribe: subscribing in 2 s')
            if self.bus.stopped.wait(2):
                return
            self.bus.subscribe(self.topic, self.on_event)

    def on_event(self, topic, properties, body):
        """Answer a lifecycle event on ``generic.<kind>.<sf_uuid>``."""
        correlation_id = properties.get('correlation_id')
        request = load_yaml(body)
        event = request.get(self.type_key) if isinstance(request, dict) \
            else None
        if event is None:
            log_message('received', topic, correlation_id,
                        f'no {self.type_key} (ignored)')
            return
        log_message('received', topic, correlation_id, event)
        if self.kind == 'ssm' and event == 'monitor':
            self.on_alert(request)
        reply = self.reply_for(event, request)
        if reply is NO_REPLY:
            LOG.info('%s expects no answer', event)
            return
        if self.behaviour == 'silent':
            LOG.info('behaviour silent: not answering %s', event)
            return
        if self.behaviour == 'slow':
            LOG.info('behaviour slow: answering %s in 3 s', event)
            if self.bus.stopped.wait(3):
                return
        if self.behaviour == 'stall-after-first' and self.events_answered:
            LOG.info('behaviour stall-after-first: answering %s in 60 s',
                     event)
            if self.bus.stopped.wait(60):
                return
        self.events_answered += 1
        if self.behaviour == 'error':
            reply = {'status': 'ERROR',
                     'error': f'legacy manager refused: {event}'}
        elif self.behaviour == 'lowercase':
            reply = lowercase(reply)
        elif self.behaviour == 'wim-links' and 'vl_mapping' in reply:
            reply['vl_mapping'] = {link: {'wim': 'wim-x'}
                                   for link in reply['vl_mapping']}
        self.answer(topic, correlation_id, event, reply)
        if self.behaviour == 'twice':
            self.answer(topic, correlation_id, event + ' (second reply)',
                        {'status': 'ERROR', 'error': 'second reply'})

    def on_alert(self, alert):
        """Ask for a workflow when an alert says so (LEGACY-BUS §6).

        As the industrial pilot's SSM did from its monitoring callback, it
        publishes ``{workflow, service_instance_id,
        reconfiguration_payload}`` on ``monitor.ssm.<sf_uuid>``, unasked:
        the alert's ``request_workflow`` names the workflow and its
        ``payload`` becomes the reconfiguration payload.
        """
        workflow = alert.get('request_workflow')
        if not workflow:
            return
        topic = f'monitor.ssm.{self.sf_uuid}'
        self.bus.notify(topic, dump_yaml({
            'workflow': workflow,
            'service_instance_id': self.sf_uuid,
            'reconfiguration_payload': alert.get('payload'),
        }))
        log_message('sent', topic, None, f'a {workflow} request')

    def answer(self, topic, correlation_id, event, reply):
        """Send ``reply`` to the request ``correlation_id`` on ``topic``."""
        self.bus.notify(topic, dump_yaml(reply),
                        correlation_id=correlation_id)
        log_message('sent', topic, correlation_id, f'reply to {event}')

    def reply_for(self, event, request):
        """Return the answer to ``event``, or ``NO_REPLY``.

        SSM monitor and the SSM configure status (``workflow: status``) are
        notifications and get no answer. Unknown events are answered with
        null, as 5GTANGO's templates answered the events they did not
        handle.
        """
        expected = EXPECTED_FIELDS.get((self.kind, event))
        if expected and expected not in request:
            LOG.warning('%s %s request without %r (LEGACY-BUS §6)',
                        self.kind, event, expected)
        status = event == 'configure' and request.get('workflow') == 'status'
        if self.kind == 'ssm' and (event == 'monitor' or status):
            return NO_REPLY
        content = request.get('content') or {}
        handlers = {
            ('ssm', 'task'): lambda: self.ssm_task(request),
            ('ssm', 'placement'): lambda: self.ssm_placement(content),
            ('ssm', 'configure'): lambda: self.ssm_configure(request),
            ('ssm', 'state'): lambda: self.ssm_state(content),
            ('fsm', 'start'): lambda: self.fsm_envs(event, content),
            ('fsm', 'configure'): lambda: self.fsm_envs(event, content),
            ('fsm', 'scale'): lambda: self.fsm_envs(event, content),
            ('fsm', 'stop'): lambda: {'status': 'COMPLETED', 'error': 'None'},
            ('fsm', 'state'): lambda: self.fsm_state(content),
        }
        handler = handlers.get((self.kind, event))
        return handler() if handler else None

    @staticmethod
    def ssm_task(request):
        """Insert ``configure_ssm`` before ``store_nsr`` (else at the end)."""
        schedule = list(request.get('schedule') or [])
        if 'configure_ssm' not in schedule:
            at = schedule.index('store_nsr') if 'store_nsr' in schedule \
                else len(schedule)
            schedule.insert(at, 'configure_ssm')
        return {'status': 'COMPLETED', 'schedule': schedule}

    @staticmethod
    def ssm_placement(content):
        """Place every VNF instance on the VIM of its kind with the most free
        cores, and, when they all landed on one VIM, every virtual link of the
        NSD inside it.

        The VIMs are ``topology.vims.vim_list`` (or ``topology.vims`` when
        that is a list); the instances are ``vnfds[].instance_uuid`` (or
        ``functions[].id``); a VNFD with ``cloudnative_deployment_units``
        needs a ``container`` VIM, any other a ``vm`` one. Ties go to the VIM
        listed first.
        """
        vims = (content.get('topology') or {}).get('vims') or []
        if isinstance(vims, dict):
            vims = vims.get('vim_list') or []
        vnfs = content.get('vnfds') or content.get('functions') or []
        if not vims:
            return {'mapping': {}, 'error': 'no VIM in the topology',
                    'status': 'ERROR'}
        mapping = {}
        for vnf in vnfs:
            kind = ('container' if vnf.get('cloudnative_deployment_units')
                    else 'vm')
            fitting = [vim for vim in vims if vim.get('type') == kind] or vims
            best = max(fitting, key=lambda vim: (vim.get('core_total') or 0)
                       - (vim.get('core_used') or 0))
            mapping[vnf.get('instance_uuid') or vnf.get('id')] = {
                'vim': best.get('vim_uuid')}
        reply = {'mapping': mapping, 'error': None, 'status': 'COMPLETED'}
        sites = {site['vim'] for site in mapping.values()}
        if len(sites) == 1:
            (vim,) = sites
            links = (content.get('nsd') or {}).get('virtual_links') or []
            reply['vl_mapping'] = {link.get('id'): {'vim': vim}
                                   for link in links if link.get('id')}
        return reply

    @staticmethod
    def ssm_configure(request):
        """Switch on FSM configure for every function, with a payload."""
        payload = {'message': 'configured by legacy SSM',
                   'workflow': request.get('workflow')}
        vnfs = [
            {'id': function.get('id'),
             'configure': {'trigger': True, 'payload': dict(payload)}}
            for function in request.get('functions') or []
        ]
        return {'status': 'COMPLETED', 'vnf': vnfs}

    def ssm_state(self, content):
        """Return the state with ``migrated_by`` added.

        A state that is not a mapping is kept under ``state``.
        """
        state = content.get('state')
        if isinstance(state, dict):
            migrated = dict(state)
        else:
            migrated = {'state': state}
        migrated['migrated_by'] = self.sm_id
        return {'status': 'COMPLETED', 'content': migrated}

    def fsm_envs(self, event, content):
        """Give each unit of this VNF ``LEGACY_<EVENT>=<sm_id>``."""
        envs = [{'cdu_id': cdu_id,
                 'envs': {f'LEGACY_{event.upper()}': self.sm_id}}
                for cdu_id in self.cdu_ids(content)]
        return {'status': 'COMPLETED', 'error': 'None', 'envs': envs}

    def cdu_ids(self, content):
        """Return the ``cdu_id`` (``<unit id>-<VNFR id>``) of each unit.

        The units are those of ``content.vnfr`` (FSM start, stop, scale,
        state), else of the entry of ``content.vnfrs`` whose id is this
        manager's ``sf_uuid`` (FSM configure); with neither, the ``cdu_id``s
        of ``content.generic_envs``. Both VDUs and CDUs count.
        """
        vnfr = content.get('vnfr')
        if not isinstance(vnfr, dict):
            vnfr = next((record for record in content.get('vnfrs') or []
                         if isinstance(record, dict)
                         and record.get('id') == self.sf_uuid), None)
        if vnfr is None:
            return [entry.get('cdu_id')
                    for entry in content.get('generic_envs') or []]
        units = (vnfr.get('virtual_deployment_units') or []) \
            + (vnfr.get('cloudnative_deployment_units') or [])
        return [f"{unit.get('id')}-{vnfr.get('id')}" for unit in units]

    def fsm_state(self, content):
        """Extract a state naming this manager; accept any inject."""
        if content.get('action') == 'extract':
            vnfr = content.get('vnfr') or {}
            return {'status': 'COMPLETED',
                    'persist': {'extracted_by': self.sm_id,
                                'vnfr_id': vnfr.get('id')}}
        return {'status': 'COMPLETED'}


def lowercase(reply):
    """``reply`` as the pilots' managers wrote it: lower-case, no error."""
    if not isinstance(reply, dict):
        return reply
    reply = dict(reply)
    reply.pop('error', None)
    if reply.get('status') == 'COMPLETED':
        reply['status'] = 'completed'
    return reply


def parse_arguments(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='A legacy 5GTANGO specific manager on RabbitMQ.')
    parser.add_argument('--type', dest='kind', choices=('ssm', 'fsm'),
                        required=True, help='service or function manager')
    parser.add_argument('--id', dest='sm_id', required=True,
                        help='the specific_manager_id it registers with')
    parser.add_argument('--behaviour', choices=sorted(BEHAVIOURS),
                        default='normal',
                        help='; '.join(f'{name}: {what}'
                                       for name, what in BEHAVIOURS.items()))
    return parser.parse_args(argv)


def main(argv=None):
    """Run the manager until SIGTERM or until its connection closes."""
    args = parse_arguments(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO,
        format='%(asctime)s %(name)s %(levelname)s %(message)s')
    # amqpstorm logs every channel it closes; only its warnings matter here.
    logging.getLogger('amqpstorm').setLevel(logging.WARNING)
    # When the broker drops the connection (the vhost was deleted) its reader
    # thread warns with a traceback; what stopped is logged here instead.
    logging.getLogger('amqpstorm.io').setLevel(logging.ERROR)
    url = os.environ.get('broker_host', BROKER_URL_FALLBACK)
    exchange = os.environ.get('broker_exchange', EXCHANGE_FALLBACK)
    sf_uuid = os.environ.get('sf_uuid', '')

    stopped = threading.Event()

    def on_signal(signum, _frame):
        LOG.info('got signal %d, stopping', signum)
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    app_id = f'{args.sm_id}-{sf_uuid}'
    try:
        bus = Bus(url, exchange, app_id, stopped)
    except AMQPError as error:
        LOG.error('cannot connect to the broker: %s', error)
        return 1
    LOG.info('%s %s (behaviour %s) connected, exchange %s, sf_uuid %s',
             args.kind, args.sm_id, args.behaviour, exchange, sf_uuid)
    manager = LegacyManager(args.kind, args.sm_id, sf_uuid, args.behaviour,
                            bus)
    try:
        manager.start()
    except AMQPError as error:
        LOG.info('the connection failed while starting: %s', error)
        stopped.set()
    while not stopped.wait(0.2):
        if not bus.alive:
            LOG.info('the connection closed')
            break
    bus.close()
    LOG.info('exiting')
    return 0


if __name__ == '__main__':
    sys.exit(main())
