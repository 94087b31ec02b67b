// GET /health on the gateway (njs): asks every routed service's /health/ready at once and answers
// 200 {"status":"UP","services":{...}} only when all of them answer 200; 503 otherwise.
// The services come from $health_targets: "name=host:port name=host:port ...".

async function ready(address) {
    try {
        const reply = await ngx.fetch('http://' + address + '/health/ready');
        return reply.status === 200 ? 'UP' : 'DOWN';
    } catch (e) {
        return 'DOWN';  // refused or timed out (js_fetch_timeout)
    }
}

async function check(r) {
    const targets = r.variables.health_targets.split(' ').filter(function (t) { return t.length > 0; });
    const names = targets.map(function (t) { return t.split('=')[0]; });
    const states = await Promise.all(targets.map(function (t) { return ready(t.split('=')[1]); }));
    const services = {};
    let up = true;
    for (let i = 0; i < names.length; i++) {
        services[names[i]] = states[i];
        up = up && states[i] === 'UP';
    }
    r.headersOut['Content-Type'] = 'application/json';
    r.headersOut['Cache-Control'] = 'no-store';
    r.return(up ? 200 : 503, JSON.stringify({status: up ? 'UP' : 'DOWN', services: services}));
}

export default {check};
