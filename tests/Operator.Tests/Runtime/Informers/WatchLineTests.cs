using Ferry.Operator.Runtime.Resources;
using k8s;
using k8s.Models;

namespace Ferry.Operator.Tests.Runtime.Informers;

/// <summary>One line of a watch stream, parsed straight from its bytes.</summary>
public sealed class WatchLineTests
{
    [Fact]
    public void An_added_pod_is_parsed_into_the_typed_object()
    {
        var change = KubernetesResourceClient<V1Pod>.ParseWatchLine(
            """{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p0","namespace":"ml","resourceVersion":"12"},"status":{"phase":"Running"}}}""");

        Assert.Equal(WatchEventType.Added, change.Type);
        Assert.Equal(("p0", "ml", "12", "Running"), (change.Object!.Metadata.Name, change.Object.Metadata.NamespaceProperty, change.Object.Metadata.ResourceVersion, change.Object.Status.Phase));
    }

    [Fact]
    public void An_error_event_carries_its_status_even_when_the_type_comes_last()
    {
        var change = KubernetesResourceClient<V1Pod>.ParseWatchLine(
            """{"object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 5 (90)","reason":"Expired","code":410},"type":"ERROR"}""");

        Assert.Equal(WatchEventType.Error, change.Type);
        Assert.Null(change.Object);
        Assert.Equal((410, "Expired"), (change.Status!.Code, change.Status.Reason));
    }

    [Fact]
    public void Omitted_fields_are_cut_before_parsing_and_the_rest_is_kept_intact()
    {
        var change = KubernetesResourceClient<V1Pod>.ParseWatchLine(
            new System.Buffers.ReadOnlySequence<byte>("""{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p\"1","labels":{"a":"b"}},"spec":{"containers":[{"name":"train","image":"x"}]},"status":{"phase":"Succeeded","containerStatuses":[{"name":"train","state":{"terminated":{"exitCode":0,"message":"{\"done\":true}"}}}]}}}"""u8.ToArray()),
            new HashSet<string> { "spec" });

        Assert.Equal(WatchEventType.Modified, change.Type);
        Assert.Null(change.Object!.Spec);
        Assert.Equal(("p\"1", "b", "Succeeded"), (change.Object.Metadata.Name, change.Object.Metadata.Labels["a"], change.Object.Status.Phase));
        Assert.Equal("{\"done\":true}", change.Object.Status.ContainerStatuses[0].State.Terminated.Message);
    }

    [Fact]
    public void Malformed_lines_name_what_is_wrong()
    {
        Assert.Contains("unknown type 'SURPRISE'", Assert.Throws<InvalidDataException>(
            () => KubernetesResourceClient<V1Pod>.ParseWatchLine("""{"type":"SURPRISE","object":{}}""")).Message, StringComparison.Ordinal);
        Assert.Contains("has no object", Assert.Throws<InvalidDataException>(
            () => KubernetesResourceClient<V1Pod>.ParseWatchLine("""{"type":"MODIFIED"}""")).Message, StringComparison.Ordinal);
        Assert.Contains("not a JSON object", Assert.Throws<InvalidDataException>(
            () => KubernetesResourceClient<V1Pod>.ParseWatchLine("[]")).Message, StringComparison.Ordinal);
    }
}
